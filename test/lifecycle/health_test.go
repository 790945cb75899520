// Package lifecycle tests controller-manager against a real host and real members: what
// `kubectl get clusters` says must be true within seconds.
package lifecycle

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/test/framework"
)

var env *localenv.Env

func TestMain(m *testing.M) {
	// member3 runs unjoined: TestJoinAndUnjoin joins it with the CLI. The host registers
	// itself, as make local-up does.
	os.Exit(localenv.RunTests("cluster-lifecycle-test", func(e *localenv.Env) { e.Unjoined = []string{"member3"}; e.RegisterHost = true },
		func(e *localenv.Env) int { env = e; return m.Run() }, "member1", "member2", "member3"))
}

// waitReady waits until cluster's Ready condition is want and returns how long it took.
func waitReady(t *testing.T, cluster, want string, within time.Duration) (reason, message string, took time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		var status string
		status, reason, message = framework.Condition(t, env, cluster, "Ready")
		if status == want {
			return reason, message, time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("cluster %s: Ready is %q (%s: %s), not %q, after %s", cluster, status, reason, message, want, within)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func TestStatusOfAHealthyMember(t *testing.T) {
	out := framework.Kubectl(t, env, "host", "", "get", "cluster", "member1", "-o",
		"jsonpath={.status.kubernetesVersion} {.status.nodeCount} {.status.zones} {.status.observedGeneration} {.status.lastProbeTime}")
	assert.Regexp(t, `^v1\.36\.3 2 \["zone-a","zone-b"\] 1 \d{4}-`, out)
	uid := framework.Kubectl(t, env, "host", "", "get", "cluster", "member1", "-o", "jsonpath={.status.uid}")
	ctx := context.Background()
	memberUID, err := env.Kubectl(ctx, "member1", "", "get", "namespace", "kube-system", "-o", "jsonpath={.metadata.uid}")
	require.NoError(t, err)
	assert.Equal(t, memberUID, uid, "the identity is member1's kube-system UID")
	table := framework.Kubectl(t, env, "host", "", "get", "clusters")
	assert.Regexp(t, `(?m)^member1\s+Direct\s+True\s+v1\.36\.3\s+2\s+`, table)

	// Nothing changes, nothing is written: three probes later the object is the same.
	before := framework.Kubectl(t, env, "host", "", "get", "cluster", "member1", "-o", "jsonpath={.metadata.resourceVersion}")
	time.Sleep(32 * time.Second)
	assert.Equal(t, before, framework.Kubectl(t, env, "host", "", "get", "cluster", "member1", "-o", "jsonpath={.metadata.resourceVersion}"),
		"no status write while nothing changes")
}

func TestMemberDownAndBack(t *testing.T) {
	ctx := context.Background()
	stopped := time.Now()
	require.NoError(t, env.Stop("member2-kube-apiserver"))
	reason, message, _ := waitReady(t, "member2", "False", 40*time.Second)
	took := time.Since(stopped)
	t.Logf("Ready=False %s after the member was told to stop", took.Round(time.Second))
	assert.Less(t, took, 40*time.Second)
	assert.Equal(t, "Unreachable", reason)
	assert.Contains(t, message, "connection refused")
	events := framework.Kubectl(t, env, "host", "", "get", "events", "--field-selector", "involvedObject.name=member2,reason=Unreachable", "-o", "jsonpath={.items[*].type}")
	assert.Contains(t, events, "Warning", "a Warning event on the transition")
	assert.Regexp(t, `(?m)^member2\s+Direct\s+False\s+`, framework.Kubectl(t, env, "host", "", "get", "clusters"))

	start := time.Now()
	require.NoError(t, env.StartKubeAPIServer(ctx, "member2"))
	reason, _, _ = waitReady(t, "member2", "True", 20*time.Second)
	t.Logf("Ready=True %s after the member was started (its own start included)", time.Since(start).Round(time.Second))
	assert.Equal(t, "ClusterReady", reason)
}

// TestIdentity: credentials that lead to another member are refused, and one member
// cannot be registered twice. Each Cluster has its own Secret (one Secret backs one
// Cluster): copies of the members' credentials, as a host admin could make.
func TestIdentity(t *testing.T) {
	impostorCredentials := framework.CopySecret(t, env, "member1-credentials", "impostor-credentials")
	framework.CopySecret(t, env, "member2-credentials", "member1-elsewhere-credentials")
	framework.Kubectl(t, env, "host", framework.ClusterManifest(framework.Cluster{Name: "impostor", Endpoint: env.MemberURL("member1"), Secret: impostorCredentials}), "apply", "-f", "-")
	defer framework.Kubectl(t, env, "host", "", "delete", "cluster", "impostor")
	reason, message, _ := waitReady(t, "impostor", "False", 20*time.Second)
	assert.Equal(t, "DuplicateCluster", reason)
	assert.Contains(t, message, `cluster "member1" already is this member`)
	assert.Empty(t, framework.Kubectl(t, env, "host", "", "get", "cluster", "impostor", "-o", "jsonpath={.status.uid}"), "a duplicate is never pinned")

	// member1's Cluster now points at member2 with member2's credentials and CA:
	// refused, its identity kept.
	uid := framework.Kubectl(t, env, "host", "", "get", "cluster", "member1", "-o", "jsonpath={.status.uid}")
	original := framework.Kubectl(t, env, "host", "", "get", "cluster", "member1", "-o", "jsonpath={.spec.connection}")
	framework.Kubectl(t, env, "host", "", "patch", "cluster", "member1", "--type=merge", "-p", fmt.Sprintf(
		`{"spec":{"connection":{"kubernetesAPIEndpoint":%q,"caBundle":null,"credentialsSecretRef":{"name":"member1-elsewhere-credentials"}}}}`,
		env.MemberURL("member2")))
	reason, message, _ = waitReady(t, "member1", "False", 20*time.Second)
	assert.Equal(t, "IdentityMismatch", reason)
	assert.Contains(t, message, "pinned to "+uid)
	assert.Equal(t, uid, framework.Kubectl(t, env, "host", "", "get", "cluster", "member1", "-o", "jsonpath={.status.uid}"))

	framework.Kubectl(t, env, "host", "", "patch", "cluster", "member1", "--type=merge", "-p", `{"spec":{"connection":`+original+`}}`)
	waitReady(t, "member1", "True", 20*time.Second)
}

// TestMetrics: the leader serves Prometheus metrics of what it sees, to a caller bound to
// kubesphere:metrics-reader, and /healthz, over HTTPS.
func TestMetrics(t *testing.T) {
	base := env.ControllerManagerURL("host-controller-manager")
	require.NotEmpty(t, base)
	client, err := env.MetricsClient()
	require.NoError(t, err)
	get := func(path string) string {
		resp, err := client.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(body)
	}
	assert.Equal(t, "ok", get("/healthz"))
	var metrics string
	require.Eventually(t, func() bool {
		metrics = get("/metrics")
		return strings.Contains(metrics, `kubesphere_clusters{condition="Ready",status="True"} 3`)
	}, 30*time.Second, time.Second, "both members and the host counted Ready:\n%s", metrics)
	assert.Regexp(t, `kubesphere_cluster_probe_duration_seconds_count\{cluster="member1",result="ok"\} [1-9]`, metrics)
	assert.Contains(t, metrics, `kubesphere_cluster_status_writes_total{result="ok"}`)
}

// TestLeaderFailover: a standby takes over within the lease duration when the leader
// dies without releasing its Lease, and keeps probing.
func TestLeaderFailover(t *testing.T) {
	ctx := context.Background()
	holder := func() string {
		return framework.Kubectl(t, env, "host", "", "get", "lease", "-n", localenv.ControllerManagerNamespace, "kubesphere-controller-manager", "-o", "jsonpath={.spec.holderIdentity}")
	}
	leader := holder()
	require.NotEmpty(t, leader)
	require.NoError(t, env.StartControllerManager(ctx, "controller-manager-2"))
	defer func() { _ = env.Stop("host-controller-manager-2") }()
	assert.Equal(t, leader, holder(), "the second replica waits as a standby")

	require.NoError(t, syscall.Kill(env.Pid("host-controller-manager"), syscall.SIGKILL))
	start := time.Now()
	// Leave a replica running for the tests after this one (it takes over from
	// controller-manager-2 when that one stops).
	defer func() { require.NoError(t, env.StartControllerManager(ctx, "controller-manager")) }()
	require.Eventually(t, func() bool { h := holder(); return h != "" && h != leader }, 30*time.Second, 500*time.Millisecond)
	t.Logf("standby took the lease %s after the leader was killed", time.Since(start).Round(time.Second))
	// The standby sees the leader's last renewal at its next try and takes over at its first
	// try after the lease ran out from then. client-go spaces a standby's tries 2 s to 4.4 s
	// apart (the 2 s retry period jittered by up to 1.2x), so the worst case is 15 + 2 x 4.4
	// s, and a second for this test's polling. (20 s failed once, at 20.007 s.)
	assert.Less(t, time.Since(start), 25*time.Second, "within the 15 s lease duration and two jittered retries")

	// The new leader probes: a member going down is seen.
	require.NoError(t, env.Stop("member2-kube-apiserver"))
	defer func() { require.NoError(t, env.StartKubeAPIServer(ctx, "member2")) }()
	waitReady(t, "member2", "False", 40*time.Second)
}

// TestHostIsAClusterToo: the host is registered as a Cluster with the host label, probed
// and reachable through the proxy like any member; a second host is refused.
func TestHostIsAClusterToo(t *testing.T) {
	assert.Equal(t, "host", strings.TrimSpace(framework.Kubectl(t, env, "host", "", "get", "clusters", "-l", "cluster-role.kubesphere.io/host", "-o", "jsonpath={.items[*].metadata.name}")))
	waitReady(t, "host", "True", 30*time.Second)
	hostUID, err := env.Kubectl(context.Background(), "host", "", "get", "namespace", "kube-system", "-o", "jsonpath={.metadata.uid}")
	require.NoError(t, err)
	assert.Equal(t, hostUID, framework.Kubectl(t, env, "host", "", "get", "cluster", "host", "-o", "jsonpath={.status.uid}"), "its identity is the host's kube-system UID")
	ns := framework.Kubectl(t, env, "host", "", "get", "--raw", "/apis/clusters.kubesphere.io/v1alpha1/clusters/host/proxy/api/v1/namespaces/kubesphere-system")
	assert.Contains(t, ns, `"name":"kubesphere-system"`, "the host through its own proxy path")

	// A second host: refused by join before anything is made.
	out, err := ksmc(t, "join", "member3", "--kubeconfig", env.Kubeconfig(), "--context", "member3", "--host-context", "host", "--host-cluster")
	require.Error(t, err)
	assert.Contains(t, out, `Cluster "host" is already the host`)
	assert.NotContains(t, framework.Kubectl(t, env, "host", "", "get", "clusters", "-o", "name"), "member3")
}
