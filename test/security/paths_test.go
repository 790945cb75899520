package security

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/test/framework"
)

// The developer may use member1 only. Every trick below tries to reach member2 (or the
// host's own API) with it: an escape is an answer that carries member2's identity.
func TestPathTricksReachNoOtherCluster(t *testing.T) {
	dev := client(t, userCert(t, "developer", "developers"), "")
	uid2 := memberUID(t, "member2")
	const target = "api/v1/namespaces/kube-system"
	// The same client reaches member1 and reads its identity there: a trick that gets
	// nothing does so because it is refused, not because the client cannot reach anything.
	for _, url := range []string{env.DirectPathURL("member1") + "/" + target, env.ViaHostURL("member1") + "/" + target} {
		code, body := do(t, dev, "GET", url, "", nil)
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, body, memberUID(t, "member1"))
	}
	sub := clustersAPI
	tricks := []string{
		"/clusters/member2/" + target,
		"/clusters/member1/../member2/" + target,
		"/clusters/member1/%2e%2e/member2/" + target,
		"/clusters/member1/%2E%2E%2Fmember2%2F" + target,
		"/clusters/member1/..%2fmember2/" + target,
		"/clusters/member1%2F..%2Fmember2/" + target,
		"/clusters/member1%2fmember2/" + target,
		"/clusters//member2/" + target,
		"/clusters/./member2/" + target,
		"/clusters/member1/./../member2/" + target,
		"/clusters/member1;/../member2/" + target,
		"/clusters/member1;member2/" + target,
		"/clusters/Member2/" + target,
		"/clusters/member2%00/" + target,
		"/clusters/member%32/" + target,
		"/clusters/%6dember2/" + target,
		"/clusters/member1/" + target + "?cluster=member2",
		"/clusters/member2/" + target + "?name=member1",
		"/clusters/member1\\..\\member2/" + target,
		"/clusters/member1/%252e%252e/member2/" + target,
		sub + "/member2/proxy/" + target,
		sub + "/member1/proxy/../../member2/proxy/" + target,
		sub + "/member1/proxy/%2e%2e/%2e%2e/member2/proxy/" + target,
		sub + "/member1/../member2/proxy/" + target,
		sub + "/member1%2F..%2Fmember2/proxy/" + target,
		sub + "/member1/proxy?path=/../../member2/proxy/" + target,
		sub + "/member2/proxy?path=/" + target + "&name=member1",
		sub + "/member1/proxy/" + target + "?cluster=member2",
		sub + "/member1,member2/proxy/" + target,
		"/apis/clusters.kubesphere.io/v1alpha1/namespaces/default/clusters/member2/proxy/" + target,
	}
	for _, base := range []string{env.ClusterAPIServerURL(), env.HostURL()} {
		for _, trick := range tricks {
			probe(t, "path tricks", base+trick, func() error {
				code, body := do(t, dev, "GET", base+trick, "", nil)
				if strings.Contains(body, uid2) {
					return fmt.Errorf("member2 answered (%d)", code)
				}
				return nil
			})
		}
	}
}

// Identity headers and WebSocket token protocols a client sends are never believed and
// never forwarded: the member acts on the caller's own identity only.
func TestClientIdentityHeadersAreNotBelieved(t *testing.T) {
	// A pod to exec into on each member, in a namespace where the developer may not exec:
	// a believed identity header would open a shell there.
	for _, m := range []string{"member1", "member2"} {
		framework.Kubectl(t, env, m, shellPod("kube-system"), "apply", "-f", "-")
		framework.Kubectl(t, env, m, "", "wait", "-n", "kube-system", "--for=condition=Ready", "pod/shell", "--timeout=60s")
	}
	dev := client(t, userCert(t, "developer", "developers"), "")
	// Positive control: the developer reads member1's pods in kube-system (view).
	code, body := do(t, dev, "GET", env.DirectPathURL("member1")+"/api/v1/namespaces/kube-system/pods/shell", "", nil)
	require.Equal(t, http.StatusOK, code, body)
	nobody := client(t, userCert(t, "nobody"), "")
	anonymous := client(t, nil, "")
	agent := framework.AgentToken(t, env, "member2")
	forged := []http.Header{
		{"Impersonate-User": {"system:admin"}},
		{"Impersonate-Group": {"system:masters"}, "Impersonate-User": {"developer"}},
		{"X-Remote-User": {"system:admin"}, "X-Remote-Group": {"system:masters"}},
		{"X-Remote-User": {"admin"}, "X-Remote-Extra-Scopes": {"all"}},
		{"Impersonate-Uid": {"0"}, "Impersonate-User": {"admin"}},
		{"Authorization": {"Bearer " + agent}},
		{"Sec-Websocket-Protocol": {"base64url.bearer.authorization.k8s.io." + base64.RawURLEncoding.EncodeToString([]byte(agent)) + ", v5.channel.k8s.io"}},
		{"Sec-Websocket-Protocol": {"base64url.bearer.authorization.k8s.io.bm90LWEtdG9rZW4, v5.channel.k8s.io"}},
	}
	upgrade := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	paths := map[string]string{}
	for _, m := range []string{"member1", "member2"} {
		paths["host path "+m] = env.ViaHostURL(m)
		paths["direct path "+m] = env.DirectPathURL(m)
	}
	for name, base := range paths {
		for i, h := range forged {
			for who, c := range map[string]*http.Client{"developer": dev, "nobody": nobody, "anonymous": anonymous} {
				// Secrets in kube-system: the developer may not read them on member1 (view
				// excludes Secrets) and may not use member2 at all; nobody and anonymous
				// may use no cluster.
				url := base + "/api/v1/namespaces/kube-system/secrets"
				probe(t, "forged identity", fmt.Sprintf("%s as %s with forged header set %d", name, who, i), func() error {
					return denied(do(t, c, "GET", url, "", h))
				})
				probe(t, "forged identity on upgrades", fmt.Sprintf("%s as %s with forged header set %d", name, who, i), func() error {
					hdr := http.Header{}
					for k, v := range upgrade {
						hdr[k] = v
					}
					for k, v := range h {
						hdr[k] = v
					}
					return denied(do(t, c, "GET", base+"/api/v1/namespaces/kube-system/pods/shell/exec?command=echo&command=escaped&stdout=true", "", hdr))
				})
			}
		}
	}
}

// Unauthenticated and anonymous requests on every port we open get nothing but health.
func TestUnauthenticatedRequests(t *testing.T) {
	anonymous := client(t, nil, "")
	garbage := client(t, nil, "not-a-token")
	malformed := client(t, nil, "kstoken.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	var urls []string
	for _, base := range []string{env.ClusterAPIServerURL(), env.HostURL()} {
		urls = append(urls, base+clustersAPI, base+clustersAPI+"/member1", base+clustersAPI+"/member1/proxy/api/v1/namespaces",
			base+clustersAPI+"/member2/proxy/api/v1/namespaces")
	}
	urls = append(urls, env.DirectPathURL("member1")+"/api/v1/namespaces", env.DirectPathURL("member2")+"/version",
		env.ClusterAPIServerURL()+"/metrics", env.ClusterAPIServerURL()+"/debug/pprof/", env.ClusterAPIServerURL()+"/openapi/v2")
	for _, url := range urls {
		for who, c := range map[string]*http.Client{"anonymous": anonymous, "a garbage token": garbage, "a token-shaped string": malformed} {
			for _, method := range []string{"GET", "POST", "DELETE"} {
				probe(t, "unauthenticated", fmt.Sprintf("%s %s as %s", method, url, who), func() error {
					return refused(do(t, c, method, url, `{}`, http.Header{"Content-Type": {"application/json"}}))
				})
			}
		}
	}
}

// shellPod is a pod on a kwok node (kwok runs exec commands locally) in namespace.
func shellPod(namespace string) string {
	return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"shell","namespace":"` + namespace + `"},"spec":{"containers":[{"name":"main","image":"busybox"}]}}`
}
