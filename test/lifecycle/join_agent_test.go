package lifecycle

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/pkg/agenttoken"
	"kubesphere.io/multicluster/test/framework"
)

// TestJoinByAgent joins member3 with `kubectl ksmc join --connection agent`, applies the
// printed manifests on member3, runs the agent as its Deployment would (the
// ServiceAccount's token, the Secret's join token), and unjoins it again.
func TestJoinByAgent(t *testing.T) {
	ctx := context.Background()
	cmd := exec.Command(filepath.Join(env.BinDir, "kubectl"), "ksmc", "join", "member3", "--connection", "agent",
		"--tower-proxy-servers", strings.Join(env.TowerProxyURLs(), ","), "--tower-proxy-ca-file", env.CAFile("host"),
		"--image", "registry.example/tower:test", "--host-context", "host")
	cmd.Env = append(os.Environ(), "PATH="+env.BinDir+":"+os.Getenv("PATH"), "KUBECONFIG="+env.Kubeconfig())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	// Whatever fails below, member3 leaves unjoined for the other tests.
	t.Cleanup(func() {
		_ = env.Stop(localenv.AgentID("member3"))
		_, _ = ksmc(t, "unjoin", "member3", "--kubeconfig", env.Kubeconfig(), "--context", "member3", "--host-context", "host")
	})
	assert.Contains(t, stderr.String(), "shown only this once")
	assert.Regexp(t, `(?m)^member3\s+Agent\s+`, framework.Kubectl(t, env, "host", "", "get", "clusters"))

	// The manifests carry the token; the host keeps only its hash.
	var token string
	// Documents start with a line "---"; a PEM's "-----END CERTIFICATE-----" does not.
	for _, doc := range strings.Split("\n"+stdout.String(), "\n---\n") {
		var s corev1.Secret
		if strings.Contains(doc, "kind: Secret") && yaml.Unmarshal([]byte(doc), &s) == nil {
			token = s.StringData["token"]
			assert.Contains(t, s.StringData["ca.crt"], "BEGIN CERTIFICATE", "the host CA is pinned in the manifests")
		}
	}
	require.Len(t, token, 43, "a 256-bit token in the printed Secret")
	assert.Contains(t, stdout.String(), "image: registry.example/tower:test")
	stored := framework.Kubectl(t, env, "host", "", "get", "secret", "-n", localenv.Namespace, agenttoken.SecretName("member3"), "-o", "jsonpath={.data}")
	assert.NotContains(t, stored, token)
	hash := framework.Kubectl(t, env, "host", "", "get", "secret", "-n", localenv.Namespace, agenttoken.SecretName("member3"), "-o", "jsonpath={.data.sha256}")
	assert.NotEmpty(t, hash)

	// On the member: apply what join printed, then run the agent as the Deployment would.
	_, err := env.Kubectl(ctx, "member3", stdout.String(), "apply", "-f", "-")
	require.NoError(t, err)
	saToken, err := env.Kubectl(ctx, "member3", "", "create", "token", "kubesphere-cluster-proxy", "-n", "kube-system", "--duration=1h")
	require.NoError(t, err)
	kc := framework.TokenKubeconfig(t, env.MemberURL("member3"), env.CAFile("member3"), strings.TrimSpace(saToken))
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token), 0o600))
	require.NoError(t, env.StartAgentWith("member3", kc, tokenFile))
	_, _, took := waitReady(t, "member3", "True", 40*time.Second)
	t.Logf("member3 Ready %s after its agent started", took)
	agentAvailable, _, _ := framework.Condition(t, env, "member3", "AgentAvailable")
	assert.Equal(t, "True", agentAvailable)
	assert.Equal(t, "Agent", framework.Kubectl(t, env, "host", "", "get", "cluster", "member3", "-o", "jsonpath={.spec.connection.type}"))
	nodes := framework.Kubectl(t, env, "host", "", "get", "--raw", "/apis/clusters.kubesphere.io/v1alpha1/clusters/member3/proxy/api/v1/nodes")
	assert.Contains(t, nodes, "member3-node-0")
	assert.NotEmpty(t, framework.Kubectl(t, env, "host", "", "get", "cluster", "member3", "-o", "jsonpath={.status.uid}"), "its identity is recorded")

	// Unjoin: the token is revoked (the tunnel closes), and join's objects leave both sides.
	out, err := ksmc(t, "unjoin", "member3", "--kubeconfig", env.Kubeconfig(), "--context", "member3", "--host-context", "host")
	require.NoError(t, err, out)
	// Revoked by unjoin, or a moment earlier by the Cluster's finalizer: gone either way.
	_, err = env.Kubectl(ctx, "host", "", "get", "secret", "-n", localenv.Namespace, agenttoken.SecretName("member3"))
	assert.ErrorContains(t, err, "NotFound")
	for _, obj := range []string{"deployment/tower-agent", "secret/tower-agent", "serviceaccount/kubesphere-cluster-proxy"} {
		_, err = env.Kubectl(ctx, "member3", "", "get", "-n", "kube-system", obj)
		assert.ErrorContains(t, err, "NotFound", obj)
	}
	// The agent, still running with the revoked token, cannot come back.
	time.Sleep(2 * time.Second)
	log, err := os.ReadFile(env.LogFile(localenv.AgentID("member3")))
	require.NoError(t, err)
	assert.Contains(t, string(log), `not valid for cluster \"member3\"`)
}
