package lifecycle

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/test/framework"
)

// ksmc runs the join CLI as a kubectl plugin ("kubectl ksmc ..."), with the host taken
// from KUBECONFIG as a user's would be.
func ksmc(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(env.BinDir, "kubectl"), append([]string{"ksmc"}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+env.BinDir+":"+os.Getenv("PATH"), "KUBECONFIG="+env.Kubeconfig())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestJoinAndUnjoin(t *testing.T) {
	member := []string{"--kubeconfig", env.Kubeconfig(), "--context", "member3", "--host-context", "host"}

	// Refused before anything is created: a taken name, an unreachable member, a
	// member credential without rights.
	out, err := ksmc(t, append([]string{"join", "member1"}, member...)...)
	require.Error(t, err)
	assert.Contains(t, out, `the name "member1" is taken`)

	unreachable := filepath.Join(t.TempDir(), "unreachable.kubeconfig")
	cfg, err := os.ReadFile(env.Kubeconfig())
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(unreachable, []byte(strings.ReplaceAll(string(cfg), env.MemberURL("member3"), "https://127.0.0.1:1")), 0o600))
	out, err = ksmc(t, "join", "member3", "--kubeconfig", unreachable, "--context", "member3", "--host-context", "host")
	require.Error(t, err)
	assert.Contains(t, out, "cannot reach the member at https://127.0.0.1:1")

	nobody, err := env.IssueClientCert("member3", "nobody")
	require.NoError(t, err)
	out, err = ksmc(t, "join", "member3", "--kubeconfig", nobody, "--host-context", "host")
	require.Error(t, err)
	assert.Contains(t, out, "no rights on the member")
	assert.Contains(t, framework.Kubectl(t, env, "host", "", "get", "clusters", "-o", "name"), "member1", "the host still answers")
	assert.NotContains(t, framework.Kubectl(t, env, "host", "", "get", "clusters", "-o", "name"), "member3", "a refused join leaves no Cluster")

	// Join: Ready, and usable through the proxy.
	start := time.Now()
	out, err = ksmc(t, append([]string{"join", "member3"}, member...)...)
	require.NoError(t, err, out)
	t.Logf("join took %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	assert.Contains(t, out, "Cluster member3 is Ready")
	nodes := framework.Kubectl(t, env, "host", "", "get", "--raw", "/apis/clusters.kubesphere.io/v1alpha1/clusters/member3/proxy/api/v1/nodes")
	assert.Contains(t, nodes, "member3-node-0")

	// The host stores a ServiceAccount token, never the admin certificate join was given.
	stored := framework.Kubectl(t, env, "host", "", "get", "secret", "-n", "kubesphere-system", "member3-credentials", "-o", "jsonpath={.data.kubeconfig}")
	decoded, err := base64.StdEncoding.DecodeString(stored)
	require.NoError(t, err)
	assert.Contains(t, string(decoded), "token: ")
	assert.NotContains(t, string(decoded), "client-key")
	assert.NotContains(t, string(decoded), "client-certificate")
	// That ServiceAccount may impersonate and read namespaces, and nothing else.
	sa := "--as=system:serviceaccount:kube-system:kubesphere-cluster-proxy"
	can := func(args ...string) string {
		out, _ := env.Kubectl(context.Background(), "member3", "", append([]string{"auth", "can-i", sa}, args...)...)
		return strings.TrimSpace(out)
	}
	assert.Equal(t, "yes", can("impersonate", "users"))
	assert.Equal(t, "yes", can("get", "namespaces"))
	assert.Equal(t, "no", can("get", "secrets", "-n", "kube-system"))
	assert.Equal(t, "no", can("create", "pods"))

	// Joined once only, under any name.
	out, err = ksmc(t, append([]string{"join", "member3"}, member...)...)
	require.Error(t, err)
	assert.Contains(t, out, `this member is already joined as Cluster "member3"`)
	out, err = ksmc(t, append([]string{"join", "another-name"}, member...)...)
	require.Error(t, err)
	assert.Contains(t, out, `this member is already joined as Cluster "member3"`)

	// Unjoin removes both sides, revokes the token, and may run again.
	storedFile := filepath.Join(t.TempDir(), "stored.kubeconfig")
	require.NoError(t, os.WriteFile(storedFile, decoded, 0o600))
	_, err = env.KubectlAs(context.Background(), storedFile, "", "", "get", "namespace", "kube-system")
	require.NoError(t, err, "the stored credential works while joined")
	out, err = ksmc(t, append([]string{"unjoin", "member3"}, member...)...)
	require.NoError(t, err, out)
	_, err = env.Kubectl(context.Background(), "host", "", "get", "cluster", "member3")
	assert.ErrorContains(t, err, "NotFound")
	_, err = env.Kubectl(context.Background(), "host", "", "get", "secret", "-n", "kubesphere-system", "member3-credentials")
	assert.ErrorContains(t, err, "NotFound")
	_, err = env.Kubectl(context.Background(), "member3", "", "get", "serviceaccount", "-n", "kube-system", "kubesphere-cluster-proxy")
	assert.ErrorContains(t, err, "NotFound")
	// The member's token authenticator sees the deletion through its caches: a moment.
	unjoined := time.Now()
	assert.Eventually(t, func() bool {
		_, err := env.KubectlAs(context.Background(), storedFile, "", "", "get", "namespace", "kube-system")
		return err != nil && strings.Contains(err.Error(), "Unauthorized")
	}, 15*time.Second, 200*time.Millisecond, "unjoin revoked the stored token")
	t.Logf("the stored token was refused %s after unjoin returned", time.Since(unjoined).Round(100*time.Millisecond))
	out, err = ksmc(t, append([]string{"unjoin", "member3"}, member...)...)
	require.NoError(t, err, out)
	assert.Contains(t, out, "already gone")

	// kubectl delete cluster: controller-manager's finalizer removes the credential join
	// stored on the host; the member keeps its ServiceAccount until unjoin is given its
	// kubeconfig.
	out, err = ksmc(t, append([]string{"join", "member3", "--wait=0"}, member...)...)
	require.NoError(t, err, out)
	require.Eventually(t, func() bool {
		return strings.Contains(framework.Kubectl(t, env, "host", "", "get", "cluster", "member3", "-o", "jsonpath={.metadata.finalizers}"), "clusters.kubesphere.io/cleanup")
	}, 30*time.Second, 200*time.Millisecond, "controller-manager adds its finalizer")
	framework.Kubectl(t, env, "host", "", "delete", "cluster", "member3", "--timeout=30s")
	_, err = env.Kubectl(context.Background(), "host", "", "get", "secret", "-n", "kubesphere-system", "member3-credentials")
	assert.ErrorContains(t, err, "NotFound", "the credential went with its Cluster")
	_, err = env.Kubectl(context.Background(), "member3", "", "get", "serviceaccount", "-n", "kube-system", "kubesphere-cluster-proxy")
	assert.NoError(t, err, "the member is left untouched")
	out, err = ksmc(t, append([]string{"unjoin", "member3"}, member...)...)
	require.NoError(t, err, out)
	_, err = env.Kubectl(context.Background(), "member3", "", "get", "serviceaccount", "-n", "kube-system", "kubesphere-cluster-proxy")
	assert.ErrorContains(t, err, "NotFound")
}
