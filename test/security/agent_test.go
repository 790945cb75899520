package security

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/pkg/tunnel"
	"kubesphere.io/multicluster/test/framework"
)

// An agent's join token writes nothing and reaches no member: the finding was that
// member2's token could re-point its own Cluster at member1's credentials and label itself
// the host. Every verb on every resource it might reach, on its own Cluster and another.
func TestAgentIdentityWritesNothing(t *testing.T) {
	token := framework.AgentToken(t, env, "member2")
	c := client(t, nil, token)
	api := env.ClusterAPIServerURL()
	before := framework.Kubectl(t, env, "host", "", "get", "cluster", "member2", "-o", "jsonpath={.spec}|{.metadata.labels}|{.metadata.annotations}|{.metadata.finalizers}|{.status.uid}")

	// What it may do: read its own Cluster, and list only that one.
	code, body := do(t, c, "GET", api+clustersAPI+"/member2", "", nil)
	require.Equal(t, http.StatusOK, code, body)
	code, body = do(t, c, "GET", api+clustersAPI, "", nil)
	require.Equal(t, http.StatusOK, code, body)
	probe(t, "agent identity", "list shows no other cluster", func() error {
		if strings.Contains(body, `"name":"member1"`) {
			return fmt.Errorf("the list names member1")
		}
		return nil
	})

	redirect := `{"spec":{"connection":{"type":"Direct","kubernetesAPIEndpoint":"` + env.MemberURL("member1") +
		`","credentialsSecretRef":{"namespace":"kubesphere-system","name":"member1-credentials"}}}}`
	writes := []struct{ method, path, body string }{
		{"PATCH", "", redirect},
		{"PATCH", "", `{"metadata":{"labels":{"cluster-role.kubesphere.io/host":"true"}}}`},
		{"PATCH", "", `{"metadata":{"annotations":{"x":"y"}}}`},
		{"PATCH", "", `{"metadata":{"finalizers":null}}`},
		{"PUT", "", `{"apiVersion":"clusters.kubesphere.io/v1alpha1","kind":"Cluster","metadata":{"name":"NAME"},"spec":{"connection":{"type":"Agent"}}}`},
		{"DELETE", "", ""},
		{"PATCH", "/status", `{"status":{"uid":"stolen-uid"}}`},
		{"PATCH", "/status", `{"status":{"conditions":[{"type":"Ready","status":"True","reason":"ClusterReady","message":"trust me","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`},
		{"PUT", "/status", `{"apiVersion":"clusters.kubesphere.io/v1alpha1","kind":"Cluster","metadata":{"name":"NAME"},"status":{"uid":"stolen-uid"}}`},
		{"GET", "/proxy/api/v1/namespaces", ""},
		{"POST", "/proxy/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"agent-was-here"}}`},
	}
	for _, target := range []string{"member2", "member1"} {
		for _, w := range writes {
			probe(t, "agent identity", fmt.Sprintf("%s %s%s", w.method, target, w.path), func() error {
				return refused(do(t, c, w.method, api+clustersAPI+"/"+target+w.path, strings.ReplaceAll(w.body, "NAME", target), nil))
			})
		}
		for _, method := range []string{"GET", "POST"} {
			probe(t, "agent identity", method+" /clusters/"+target+"/", func() error {
				return refused(do(t, c, method, api+"/clusters/"+target+"/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"agent-was-here"}}`, nil))
			})
		}
	}
	for name, req := range map[string][2]string{
		"create a cluster":             {"POST", `{"apiVersion":"clusters.kubesphere.io/v1alpha1","kind":"Cluster","metadata":{"name":"agent-made"},"spec":{"connection":{"type":"Agent"}}}`},
		"delete every cluster":         {"DELETE", ""},
		"create a borrow clone":        {"POST", `{"apiVersion":"clusters.kubesphere.io/v1alpha1","kind":"Cluster","metadata":{"name":"agent-borrow"},"spec":{"connection":{"type":"Direct","kubernetesAPIEndpoint":"` + env.MemberURL("member1") + `","credentialsSecretRef":{"namespace":"kubesphere-system","name":"member1-credentials"}}}}`},
		"read credentials on the host": {"GET", ""},
	} {
		probe(t, "agent identity", name, func() error {
			if name == "read credentials on the host" {
				return refused(do(t, client(t, nil, token), "GET", env.HostURL()+"/api/v1/namespaces/kubesphere-system/secrets", "", nil))
			}
			return refused(do(t, c, req[0], api+clustersAPI, req[1], http.Header{"Content-Type": {"application/json"}}))
		})
	}
	// The token means nothing to the host's own API server.
	probe(t, "agent identity", "the host kube-apiserver", func() error {
		return refused(do(t, client(t, nil, token), "GET", env.HostURL()+clustersAPI+"/member2", "", nil))
	})
	// kubectl with a kubeconfig that holds the token alone, as the finding did it.
	kc := framework.TokenKubeconfig(t, api, env.CAFile("host"), token)
	for _, args := range [][]string{
		{"patch", "cluster", "member2", "--type=merge", "-p", redirect},
		{"label", "cluster", "member2", "cluster-role.kubesphere.io/host=true"},
		{"annotate", "cluster", "member2", "x=y"},
		{"delete", "cluster", "member2", "--wait=false"},
	} {
		probe(t, "agent identity", "kubectl "+strings.Join(args[:2], " "), func() error {
			out, err := env.KubectlAs(testContext(t), kc, "", "", args...)
			if err == nil {
				return fmt.Errorf("kubectl %v succeeded: %s", args, out)
			}
			if !strings.Contains(err.Error(), "agents write nothing") && !strings.Contains(err.Error(), "agent identities write nothing") {
				return fmt.Errorf("refused, but without naming the rule: %v", err)
			}
			return nil
		})
	}
	after := framework.Kubectl(t, env, "host", "", "get", "cluster", "member2", "-o", "jsonpath={.spec}|{.metadata.labels}|{.metadata.annotations}|{.metadata.finalizers}|{.status.uid}")
	assert.Equal(t, before, after, "member2's Cluster is as it was")
	out, err := env.Kubectl(testContext(t), "host", "", "get", "cluster", "agent-made", "agent-borrow", "--ignore-not-found", "-o", "name")
	require.NoError(t, err)
	assert.Empty(t, out, "the agent made no Cluster")
}

// A join token opens a tunnel for its own cluster only: member2's token offered for member1
// (or for a name that does not exist, or with its last character changed) is refused by
// every tower proxy, so one member can never serve another's traffic.
func TestJoinTokenIsForOneCluster(t *testing.T) {
	token := framework.AgentToken(t, env, "member2")
	last := "A"
	if strings.HasSuffix(token, "A") {
		last = "B"
	}
	flipped := token[:len(token)-1] + last
	for _, tower := range env.TowerProxyURLs() {
		c := client(t, nil, "")
		for name, tc := range map[string]struct{ cluster, token string }{
			"member2's token as member1":  {"member1", token},
			"member2's token as nowhere":  {"nowhere", token},
			"a changed token as member2":  {"member2", flipped},
			"member2's token as Member2":  {"Member2", token},
			"member2's token, path trick": {"member2/../member1", token},
		} {
			probe(t, "join tokens", name+" at "+tower, func() error {
				return refused(do(t, c, "GET", tower+tunnel.AgentPathPrefix+tc.cluster, "", http.Header{
					"Authorization": {"Bearer " + tc.token}, "Connection": {"Upgrade"}, "Upgrade": {tunnel.UpgradeProtocol}}))
			})
		}
		// A join token opens no stream either, not even to its own cluster.
		for _, cluster := range []string{"member2", "member1"} {
			probe(t, "join tokens", "CONNECT "+cluster+" with member2's token at "+tower, func() error {
				return connectRefused(t, tower, cluster, token)
			})
		}
	}
}

// connectRefused sends a raw CONNECT for cluster to a tower proxy with token as bearer:
// nil when it is refused, an error when a stream opens.
func connectRefused(t *testing.T, tower, cluster, token string) error {
	t.Helper()
	u, err := url.Parse(tower)
	require.NoError(t, err)
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: caPool(t), ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = fmt.Fprintf(conn, "CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\nAuthorization: Bearer %s\r\n\r\n", cluster, cluster, token)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodConnect})
	if err != nil {
		return fmt.Errorf("no answer: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return fmt.Errorf("a stream to %s opened", cluster)
	}
	return nil
}
