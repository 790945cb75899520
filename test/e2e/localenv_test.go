// Package e2e checks the whole local environment that `make local-up` builds: a host and
// a member with a real control plane and kwok nodes, registered through cluster-apiserver,
// and the App Store's chart repository and OCI registry.
package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/test/framework"
)

func TestLocalEnvironment(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ports, err := localenv.FreePorts("member1")
	require.NoError(t, err)
	env, err := localenv.New(t.TempDir(), filepath.Join("..", "..", "_output", "bin"), ports, "member1")
	require.NoError(t, err)
	env.Log = t.Logf
	// As local-env up runs it: with the App Store's chart repository and registry.
	env.AppStoreRepos = true
	start := time.Now()
	require.NoError(t, env.Up(ctx))
	t.Logf("environment (App Store repos on) up in %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { _ = env.Down() })

	// The pid files name every process, <cluster>-<component>.
	want := []string{"host-etcd", "host-kube-apiserver", "host-cluster-apiserver", "host-controller-manager", "host-tower-proxy-1", "host-tower-proxy-2", "member1-kube-apiserver",
		"member1-kube-controller-manager", "member1-kube-scheduler", "member1-kwok", localenv.ChartRepoID, localenv.RegistryID,
		"host-appstore-controller"}
	assert.ElementsMatch(t, want, env.Running())

	// The done-when of the foundation: the host lists member1 with the table columns.
	out := framework.Kubectl(t, env, "host", "", "get", "clusters")
	assert.Equal(t, []string{"NAME", "CONNECTION", "READY", "VERSION", "NODES", "AGE"}, strings.Fields(strings.SplitN(out, "\n", 2)[0]))
	assert.Regexp(t, `(?m)^member1\s+Direct\s+`, out)
	endpoint := framework.Kubectl(t, env, "host", "", "get", "cluster", "member1", "-o", "jsonpath={.spec.connection.kubernetesAPIEndpoint} {.spec.connection.credentialsSecretRef.name}")
	assert.Equal(t, env.MemberURL("member1")+" member1-credentials", endpoint)
	// The credentials Secret holds a self-contained kubeconfig for member1.
	kc := framework.Kubectl(t, env, "host", "", "get", "secret", "-n", localenv.Namespace, "member1-credentials", "-o", "jsonpath={.data.kubeconfig}")
	assert.NotEmpty(t, kc)

	// A Deployment on the member becomes Running pods on kwok nodes.
	nodes := framework.Kubectl(t, env, "member1", "", "get", "nodes", "-o", "name")
	assert.Len(t, strings.Fields(nodes), 2)
	framework.Kubectl(t, env, "member1", "", "create", "deployment", "web", "--image=nginx", "--replicas=3")
	framework.Kubectl(t, env, "member1", "", "rollout", "status", "deployment/web", "--timeout=90s")
	phases := framework.Kubectl(t, env, "member1", "", "get", "pods", "-l", "app=web", "-o", "jsonpath={range .items[*]}{.status.phase} {.spec.nodeName}{\"\\n\"}{end}")
	lines := strings.Split(strings.TrimSpace(phases), "\n")
	require.Len(t, lines, 3)
	for _, l := range lines {
		assert.Regexp(t, `^Running member1-node-[01]$`, l)
	}

	// Members never see the host's objects: a host admin credential is refused by member1.
	_, err = env.KubectlAs(ctx, env.Kubeconfig(), "host", "", "--server="+env.MemberURL("member1"), "--insecure-skip-tls-verify", "get", "ns")
	require.Error(t, err)

	t.Run("app store repos", func(t *testing.T) { testAppStoreRepos(t, env) })

	// Down stops exactly what Up started.
	var pids []int
	for _, id := range want {
		pids = append(pids, env.Pid(id))
	}
	require.NoError(t, env.Down())
	assert.Empty(t, env.Running())
	for _, pid := range pids {
		assert.Error(t, syscall.Kill(pid, 0), "process %d still running after Down", pid)
	}
	left, _ := os.ReadDir(filepath.Join(env.Dir, "pids"))
	assert.Empty(t, left)
}

// TestFailsLoudly: a port someone else holds stops Up before it starts anything; a
// component that dies at start makes Up fail with its log tail; either way nothing is
// left running.
func TestFailsLoudly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := filepath.Abs(filepath.Join("..", "..", "_output", "bin"))
	require.NoError(t, err)

	t.Run("port in use", func(t *testing.T) {
		ports, err := localenv.FreePorts()
		require.NoError(t, err)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer l.Close()
		ports.Host = l.Addr().(*net.TCPAddr).Port
		env, err := localenv.New(t.TempDir(), bin, ports)
		require.NoError(t, err)
		err = env.Up(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), fmt.Sprintf("port %d (host kube-apiserver) is in use", ports.Host))
		assert.Empty(t, env.Running())
	})

	t.Run("component dies", func(t *testing.T) {
		// A bin dir whose kube-apiserver fails at once. etcd is a copy, not a link: Down
		// stops only processes whose binary lives in the environment's bin dir.
		fake := t.TempDir()
		for _, b := range []string{"kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "cluster-apiserver", "controller-manager", "tower"} {
			require.NoError(t, os.Symlink(filepath.Join(bin, b), filepath.Join(fake, b)))
		}
		etcd, err := os.ReadFile(filepath.Join(bin, "etcd"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(fake, "etcd"), etcd, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(fake, "kube-apiserver"),
			[]byte("#!/bin/sh\necho 'E1127 simulated: cannot open the serving certificate' >&2\nexit 1\n"), 0o755))
		ports, err := localenv.FreePorts()
		require.NoError(t, err)
		env, err := localenv.New(t.TempDir(), fake, ports)
		require.NoError(t, err)
		err = env.Up(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "host-kube-apiserver exited")
		assert.Contains(t, err.Error(), "simulated: cannot open the serving certificate", "the log tail says why")
		assert.Empty(t, env.Running(), "a failed Up stops what it started (etcd too)")
	})
}
