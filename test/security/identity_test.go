package security

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/internal/faultnet"
	"kubesphere.io/multicluster/test/framework"
)

// A Cluster re-pointed at another member (the finding: member2's Cluster rewritten to
// member1's endpoint and credentials) is refused by the proxy from the first request, with
// a Status that names the cluster and both identities; member1's answers never come back
// as member2's. The same holds for a new tunnel of member2's agent that leads to member1.
func TestIdentityMismatchIsNeverForwarded(t *testing.T) {
	admin := userCert(t, "security-admin", "system:masters")
	c := client(t, admin, "")
	uid1, uid2 := memberUID(t, "member1"), memberUID(t, "member2")
	paths := map[string]string{
		"host path":   env.ViaHostURL("member2") + "/api/v1/namespaces/kube-system",
		"direct path": env.DirectPathURL("member2") + "/api/v1/namespaces/kube-system",
	}
	code, body := do(t, c, "GET", paths["direct path"], "", nil)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, uid2)

	// watch asks both paths until deadline (one probe per path: any answer with member1's
	// identity in that time is an escape) and returns the last refusal seen.
	watch := func(class string, within time.Duration) (last string) {
		leaked := map[string]string{}
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			for name, url := range paths {
				code, body := do(t, c, "GET", url, "", nil)
				// The refusal names the identity it found; an answer of member1's does not.
				if code/100 == 2 && strings.Contains(body, uid1) {
					leaked[name] = fmt.Sprintf("member1's kube-system (%s) came back for member2 (%d)", uid1, code)
				}
				if code == http.StatusBadGateway {
					last = body
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		for name := range paths {
			probe(t, class, name+" answered by member1", func() error {
				if msg, ok := leaked[name]; ok {
					return fmt.Errorf("%s", msg)
				}
				return nil
			})
		}
		return last
	}
	expectRefusal := func(t *testing.T, body string) {
		t.Helper()
		assert.Contains(t, body, `"reason":"IdentityMismatch"`)
		assert.Contains(t, body, `cluster \"member2\" answered with identity `+uid1)
		assert.Contains(t, body, "pinned to "+uid2)
	}

	t.Run("tunnel to another member", func(t *testing.T) {
		// member2's agent restarted with member1's credentials: its new tunnel leads to member1.
		rogue := env.Dir + "/pki/member1-cluster-proxy.kubeconfig"
		_, err := os.Stat(rogue)
		require.NoError(t, err)
		require.NoError(t, env.StartAgentWith("member2", rogue, env.AgentTokenFile("member2")))
		t.Cleanup(func() { require.NoError(t, env.StartAgent("member2")) })
		last := watch("identity pinning (agent)", 15*time.Second)
		expectRefusal(t, last)
		require.NoError(t, env.StartAgent("member2"))
		require.Eventually(t, func() bool {
			code, body := do(t, c, "GET", paths["direct path"], "", nil)
			return code == http.StatusOK && strings.Contains(body, uid2)
		}, 60*time.Second, 250*time.Millisecond, "member2 is reached again once its own agent is back")
	})

	t.Run("cluster re-pointed", func(t *testing.T) {
		framework.CopySecret(t, env, "member1-credentials", "member2-repointed-credentials")
		framework.Kubectl(t, env, "host", "", "patch", "cluster", "member2", "--type=merge", "-p", `{"spec":{"connection":{"type":"Direct","kubernetesAPIEndpoint":"`+
			env.MemberURL("member1")+`","caBundle":null,"credentialsSecretRef":{"namespace":"kubesphere-system","name":"member2-repointed-credentials"}}}}`)
		restore := func() {
			framework.Kubectl(t, env, "host", "", "patch", "cluster", "member2", "--type=merge", "-p",
				`{"spec":{"connection":{"type":"Agent","kubernetesAPIEndpoint":null,"caBundle":null,"credentialsSecretRef":null}}}`)
		}
		t.Cleanup(restore)
		last := watch("identity pinning (direct)", 10*time.Second)
		expectRefusal(t, last)
		assert.Eventually(t, func() bool {
			_, reason, _ := framework.Condition(t, env, "member2", "Ready")
			return reason == "IdentityMismatch"
		}, 30*time.Second, 500*time.Millisecond, "controller-manager sees it too")
		assert.Equal(t, uid2, memberUID(t, "member2"), "the pinned identity is kept")
		restore()
		require.Eventually(t, func() bool {
			code, body := do(t, c, "GET", paths["direct path"], "", nil)
			return code == http.StatusOK && strings.Contains(body, uid2)
		}, 60*time.Second, 250*time.Millisecond, "member2 is reached again once its Cluster is restored")
	})

	probe(t, "identity pinning (direct)", "status.uid cannot be swapped in one write", func() error {
		_, err := env.Kubectl(testContext(t), "host", "", "patch", "cluster", "member2", "--subresource=status", "--type=merge", "-p", `{"status":{"uid":"`+uid1+`"}}`)
		if err == nil {
			return fmt.Errorf("the pinned identity was replaced")
		}
		return nil
	})
}

// A Direct Cluster whose endpoint name starts to lead to another API server that its CA
// bundle also trusts (a DNS change, a load balancer re-pointed) is not trusted on its
// certificate alone: every new connection must present the serving key of the server
// whose identity was read, so member2 is never sent a request meant for member1.
func TestEndpointThatLeadsElsewhereIsRefused(t *testing.T) {
	ctx := testContext(t)
	uid1 := memberUID(t, "member1")
	relay, err := faultnet.NewRelay(strings.TrimPrefix(env.MemberURL("member1"), "https://"))
	require.NoError(t, err)
	t.Cleanup(relay.Close)
	moving := framework.CopySecret(t, env, "member1-credentials", "moving-credentials")
	var bundle []byte
	for _, m := range []string{"member1", "member2"} {
		b, err := os.ReadFile(env.CAFile(m))
		require.NoError(t, err)
		bundle = append(bundle, b...)
	}
	framework.Kubectl(t, env, "host", framework.ClusterManifest(framework.Cluster{Name: "moving", Endpoint: "https://" + relay.Addr(),
		CABundle: base64.StdEncoding.EncodeToString(bundle), Secret: moving}), "apply", "-f", "-")
	t.Cleanup(func() { framework.Kubectl(t, env, "host", "", "delete", "cluster", "moving") })
	// A second Cluster of member1 is a duplicate controller-manager never pins: the host
	// admin pins it by hand.
	require.Eventually(t, func() bool {
		_, err := env.Kubectl(ctx, "host", "", "patch", "cluster", "moving", "--subresource=status", "--type=merge", "-p", `{"status":{"uid":"`+uid1+`"}}`)
		return err == nil
	}, 20*time.Second, 250*time.Millisecond)

	c := client(t, userCert(t, "security-admin", "system:masters"), "")
	url := env.DirectPathURL("moving") + "/api/v1/namespaces/kube-system"
	require.Eventually(t, func() bool {
		code, body := do(t, c, "GET", url, "", nil)
		return code == http.StatusOK && strings.Contains(body, uid1)
	}, 30*time.Second, 250*time.Millisecond, "member1 is reached through the relay")

	relay.Redirect(strings.TrimPrefix(env.MemberURL("member2"), "https://"))
	var last string
	leaked := ""
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		code, body := do(t, c, "GET", url, "", nil)
		if code != http.StatusServiceUnavailable {
			leaked = fmt.Sprintf("answered %d: %.200s", code, body) // member2's own 401, or worse
		}
		last = body
	}
	probe(t, "identity pinning (direct)", "an endpoint that now leads to member2", func() error {
		if leaked != "" {
			return fmt.Errorf("%s", leaked)
		}
		return nil
	})
	assert.Contains(t, last, `cluster \"moving\"`)
	assert.Contains(t, last, "could not be verified")
}
