package proxy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"kubesphere.io/multicluster/test/framework"
)

// members are the two kinds of member: member1 is joined Direct, member2 by agent (its
// requests go through a tower proxy and the agent's tunnel). Every behaviour must hold
// for both.
var members = []string{"member1", "member2"}

// paths are the two ways to a member: the host's clusters/proxy subresource (through the
// aggregator), and cluster-apiserver's own /clusters/{name}/ path.
func paths(member string) map[string][]string {
	return map[string][]string{
		"via-host":    {"--context=" + member + "-via-host"},
		"direct-path": {"--context=host", "--server=" + env.DirectPathURL(member)},
	}
}

// route is one way to one member.
type route struct {
	member, path string
	flags        []string
}

func (r route) name() string { return r.member + "-" + r.path }

// server is the URL a kubeconfig for this route names.
func (r route) server() string {
	if r.path == "via-host" {
		return env.ViaHostURL(r.member)
	}
	return env.DirectPathURL(r.member)
}

// routes are both paths to both members.
func routes() []route {
	var out []route
	for _, m := range members {
		for path, flags := range paths(m) {
			out = append(out, route{member: m, path: path, flags: flags})
		}
	}
	return out
}

func TestVerbsThroughBothPaths(t *testing.T) {
	for _, r := range routes() {
		name, flags := r.name(), r.flags
		t.Run(name, func(t *testing.T) {
			k := func(stdin string, args ...string) string {
				t.Helper()
				return framework.Kubectl(t, env, "", stdin, append(flags, args...)...)
			}
			ns := "verbs-" + name
			k("", "create", "namespace", ns)
			defer func() {
				_, _ = framework.TryKubectl(t, env, "", "", append(flags, "delete", "namespace", ns, "--wait=false")...)
			}()
			// Server-side apply, then every patch type, replace, label, delete.
			k("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: "+ns+"}\ndata: {a: \"1\"}\n", "apply", "--server-side", "-f", "-")
			k("", "patch", "-n", ns, "configmap", "cm", "--type=merge", "-p", `{"data":{"b":"2"}}`)
			k("", "patch", "-n", ns, "configmap", "cm", "--type=json", "-p", `[{"op":"add","path":"/data/c","value":"3"}]`)
			k("", "patch", "-n", ns, "configmap", "cm", "--type=strategic", "-p", `{"data":{"d":"4"}}`)
			k("", "label", "-n", ns, "configmap", "cm", "via="+name)
			assert.Equal(t, "1 2 3 4 "+name, k("", "get", "-n", ns, "configmap", "cm", "-o", "jsonpath={.data.a} {.data.b} {.data.c} {.data.d} {.metadata.labels.via}"))
			obj := k("", "get", "-n", ns, "configmap", "cm", "-o", "json")
			k(strings.Replace(obj, `"a": "1"`, `"a": "replaced"`, 1), "replace", "-f", "-")
			assert.Equal(t, "replaced", k("", "get", "-n", ns, "configmap", "cm", "-o", "jsonpath={.data.a}"))
			// The member records the caller, not the host's credential, as the manager.
			assert.Contains(t, k("", "get", "-n", ns, "configmap", "cm", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].manager}"), "kubectl")
			k("", "create", "-n", ns, "configmap", "other", "--from-literal=x=y")
			// deletecollection, by label.
			k("", "create", "-n", ns, "configmap", "batch-1")
			k("", "label", "-n", ns, "configmap", "batch-1", "other", "batch=yes")
			k("", "delete", "--raw", "/api/v1/namespaces/"+ns+"/configmaps?labelSelector=batch%3Dyes")
			assert.Equal(t, "cm", strings.TrimSpace(k("", "get", "-n", ns, "configmap", "-o", "jsonpath={.items[*].metadata.name}", "--field-selector=metadata.name!=kube-root-ca.crt")))
			k("", "delete", "-n", ns, "configmap", "--all")
			assert.Empty(t, strings.TrimSpace(k("", "get", "-n", ns, "configmap", "-o", "name", "--ignore-not-found", "--field-selector=metadata.name!=kube-root-ca.crt")))

			// Discovery, OpenAPI and version come from the member.
			assert.Contains(t, k("", "api-resources"), "deployments")
			assert.Contains(t, k("", "explain", "deployment.spec.replicas"), "replicas")
			assert.Contains(t, k("", "version", "-o", "json"), `"gitVersion": "v1.36.3"`)
			assert.Contains(t, k("", "get", "nodes"), r.member+"-node-0")
		})
	}
}

func TestWatchAcrossAChange(t *testing.T) {
	for _, m := range members {
		t.Run(m, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			framework.Kubectl(t, env, m, "", "create", "configmap", "watched", "--from-literal=v=1")
			defer func() { _, _ = framework.TryKubectl(t, env, m, "", "delete", "configmap", "watched") }()
			out := make(chan string, 1)
			go func() {
				o, _ := env.Kubectl(ctx, m+"-via-host", "", "get", "configmap", "watched", "-w", "-o", "jsonpath={.data.v}{\"\\n\"}", "--request-timeout=8s")
				out <- o
			}()
			time.Sleep(2 * time.Second)
			framework.Kubectl(t, env, m, "", "patch", "configmap", "watched", "-p", `{"data":{"v":"2"}}`)
			assert.Equal(t, "1\n2\n", <-out, "the watch saw the object, then the change")
		})
	}
}

func TestDeploymentRunsOnKwokNodes(t *testing.T) {
	for _, m := range members {
		t.Run(m, func(t *testing.T) {
			framework.Kubectl(t, env, m+"-via-host", "", "create", "deployment", "proxied", "--image=nginx", "--replicas=2")
			defer func() { _, _ = framework.TryKubectl(t, env, m+"-via-host", "", "delete", "deployment", "proxied") }()
			framework.Kubectl(t, env, m+"-via-host", "", "rollout", "status", "deployment/proxied", "--timeout=90s")
			out := framework.Kubectl(t, env, m+"-via-host", "", "get", "pods", "-l", "app=proxied", "-o", "jsonpath={range .items[*]}{.status.phase} {.spec.nodeName}{\"\\n\"}{end}")
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				assert.Regexp(t, `^Running `+m+`-node-[01]$`, l)
			}
		})
	}
}

// TestAuthorization: the host decides who may use a cluster, the member what they may do.
func TestAuthorization(t *testing.T) {
	ctx := context.Background()
	for _, r := range routes() {
		name, server, member := r.name(), r.server(), r.member
		t.Run(name, func(t *testing.T) {
			user := "eve-" + name
			kc := framework.UserKubeconfig(t, env, server, user)
			eve := func(args ...string) (string, error) { return env.KubectlAs(ctx, kc, "", "", args...) }

			_, err := eve("get", "--raw", "/api/v1/namespaces/default/configmaps")
			require.Error(t, err)
			assert.Contains(t, err.Error(), `cannot get resource "clusters/proxy" in API group "clusters.kubesphere.io"`, "no right on the host: the host refuses")

			framework.Kubectl(t, env, "host", "", "create", "clusterrole", user+"-proxy", "--verb=get,create,update,patch,delete", "--resource=clusters/proxy", "--resource-name="+member)
			framework.Kubectl(t, env, "host", "", "create", "clusterrolebinding", user+"-proxy", "--clusterrole="+user+"-proxy", "--user="+user)
			require.Eventually(t, func() bool {
				_, err = eve("get", "configmaps", "-n", "default")
				return err != nil && strings.Contains(err.Error(), `User "`+user+`" cannot list resource "configmaps"`)
			}, 30*time.Second, 250*time.Millisecond, "bound on the host only: the member refuses the user by name: %v", err)

			framework.Kubectl(t, env, member, "", "create", "rolebinding", user+"-view", "-n", "default", "--clusterrole=view", "--user="+user)
			require.Eventually(t, func() bool {
				_, err = eve("get", "configmaps", "-n", "default")
				return err == nil
			}, 30*time.Second, 250*time.Millisecond, "bound on both: allowed: %v", err)
			_, err = eve("create", "configmap", "nope", "-n", "default")
			require.Error(t, err)
			assert.Contains(t, err.Error(), `User "`+user+`" cannot create resource "configmaps"`, "view only")
			_, err = eve("get", "secrets", "-n", "default")
			require.Error(t, err, "view does not include secrets")
		})
	}
}

func TestOtherClusterNeedsItsOwnRight(t *testing.T) {
	ctx := context.Background()
	// The developer of make local-up may use member1 only.
	_, err := env.Kubectl(ctx, "member1-via-host-developer", "", "get", "pods")
	require.NoError(t, err)
	kc := framework.UserKubeconfig(t, env, env.ViaHostURL("member2"), "developer", "developers")
	// --raw: kubectl's discovery would hide the host's message behind "unknown".
	_, err = env.KubectlAs(ctx, kc, "", "", "get", "--raw", "/api/v1/namespaces/default/pods")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `cannot get resource "clusters/proxy"`)
}

// TestIdentitySmuggling: a user who may use clusters/proxy gets nothing more than their
// own rights, whatever identity headers they send.
func TestIdentitySmuggling(t *testing.T) {
	ctx := context.Background()
	// The developer may use member1; on member2 the test gives it the same rights.
	framework.Kubectl(t, env, "host", "", "create", "clusterrole", "smuggling-member2", "--verb=get,create,update,patch,delete", "--resource=clusters/proxy", "--resource-name=member2")
	framework.Kubectl(t, env, "host", "", "create", "clusterrolebinding", "smuggling-member2", "--clusterrole=smuggling-member2", "--user=developer")
	framework.Kubectl(t, env, "member2", "", "create", "clusterrolebinding", "smuggling-view", "--clusterrole=view", "--user=developer")
	defer func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "clusterrolebinding,clusterrole", "smuggling-member2")
		_, _ = framework.TryKubectl(t, env, "member2", "", "delete", "clusterrolebinding", "smuggling-view")
	}()
	for _, r := range routes() {
		name, server := r.name(), r.server()
		t.Run(name, func(t *testing.T) {
			kc := framework.UserKubeconfig(t, env, server, "developer", "developers")
			// The host's RBAC cache may lag the binding just made.
			require.Eventually(t, func() bool {
				_, err := env.KubectlAs(ctx, kc, "", "", "get", "--raw", "/api/v1/namespaces/default/configmaps")
				return err == nil
			}, 30*time.Second, 250*time.Millisecond)
			// kubectl --as sends Impersonate-User / Impersonate-Group: the host refuses it.
			_, err := env.KubectlAs(ctx, kc, "", "", "get", "--raw", "/api/v1/namespaces/kube-system/secrets", "--as=kubernetes-admin", "--as-group=system:masters")
			require.Error(t, err)
			assert.Contains(t, err.Error(), `User "developer" cannot impersonate`)

			// Raw headers the member would otherwise honour. The developer may not read
			// kube-system's secrets; whatever is sent, the answer stays a refusal.
			cfg := framework.RESTConfig(t, kc, "")
			client, err := rest.HTTPClientFor(cfg)
			require.NoError(t, err)
			for _, h := range []http.Header{
				{"X-Remote-User": {"kubernetes-admin"}, "X-Remote-Group": {"system:masters"}},
				{"Impersonate-User": {"kubernetes-admin"}},
				{"Impersonate-User": {"kubernetes-admin"}, "Impersonate-Group": {"system:masters"}},
				{"Impersonate-Group": {"system:masters"}},
				{"Authorization": {"Bearer not-a-token"}},
				{"Sec-Websocket-Protocol": {"base64url.bearer.authorization.k8s.io.bm90LWEtdG9rZW4"}},
			} {
				req, _ := http.NewRequest(http.MethodGet, server+"/api/v1/namespaces/kube-system/secrets", nil)
				for k, v := range h {
					req.Header[k] = v
				}
				resp, err := client.Do(req)
				require.NoError(t, err)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				assert.NotContains(t, string(body), `"kind":"SecretList"`, "headers %v", h)
				switch resp.StatusCode {
				case http.StatusForbidden:
					// Either the host refused the impersonation, or the member judged the
					// developer as the developer.
					assert.Regexp(t, `User \\"developer\\" cannot (impersonate|list resource \\"secrets\\")`, string(body), "headers %v", h)
				case http.StatusBadRequest:
					assert.Contains(t, string(body), "without impersonating a user name", "headers %v", h)
				default:
					t.Errorf("headers %v: unexpected %d: %s", h, resp.StatusCode, body)
				}
			}
			// And the same request with no tricks is refused the same way.
			out, err := env.KubectlAs(ctx, kc, "", "", "get", "secrets", "-n", "kube-system")
			require.Error(t, err, out)
			assert.Contains(t, err.Error(), `User "developer" cannot list resource "secrets"`)
		})
	}
}

func TestPathTricksStayInTheCluster(t *testing.T) {
	admin, err := rest.HTTPClientFor(framework.AdminRESTConfig(t, env, env.ClusterAPIServerURL()))
	require.NoError(t, err)
	get := func(rawURL string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, rawURL, nil)
		require.NoError(t, err)
		resp, err := admin.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	base := env.ClusterAPIServerURL()
	for _, p := range []string{
		"/clusters/member1/../member2/version",
		"/clusters/member1/api/..%2F..%2Fmember2%2Fversion",
		"/clusters/member1/%2e%2e/%2e%2e/clusters/member2/version",
		"/clusters/member%31/version",
		"/clusters/member1/api/v1/..%5c..%5cversion",
	} {
		code, body := get(base + p)
		assert.NotEqual(t, http.StatusOK, code, "%s: %s", p, body)
		assert.Contains(t, []int{http.StatusBadRequest, http.StatusNotFound, http.StatusForbidden}, code, "%s: %s", p, body)
	}
	// A second /clusters/ segment is just a path on member1 (which has no such path).
	code, body := get(base + "/clusters/member1/clusters/member2/version")
	assert.Equal(t, http.StatusNotFound, code, body)
	// A cluster name in the query changes nothing.
	code, body = get(base + "/clusters/member1/version?cluster=member2&name=member2")
	assert.Equal(t, http.StatusOK, code, body)
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("unknown cluster", func(t *testing.T) {
		for _, url := range []string{env.DirectPathURL("nowhere") + "/version", env.ViaHostURL("nowhere") + "/version"} {
			s, _ := getStatus(t, url)
			assert.Equal(t, int32(http.StatusNotFound), s.Code)
			assert.Equal(t, metav1.StatusReasonNotFound, s.Reason)
			assert.Contains(t, s.Message, `clusters.clusters.kubesphere.io "nowhere" not found`)
		}
	})

	t.Run("unreachable cluster", func(t *testing.T) {
		// A port nobody listens on.
		framework.Kubectl(t, env, "host", framework.ClusterManifest(framework.Cluster{Name: "gone", Endpoint: "https://127.0.0.1:1",
			Secret: framework.CopySecret(t, env, "member1-credentials", "gone-credentials")}), "apply", "-f", "-")
		defer func() { _, _ = framework.TryKubectl(t, env, "host", "", "delete", "cluster", "gone") }()
		var s metav1.Status
		var took time.Duration
		require.Eventually(t, func() bool {
			s, took = getStatus(t, env.DirectPathURL("gone")+"/version")
			return s.Code == http.StatusServiceUnavailable
		}, 20*time.Second, 500*time.Millisecond)
		assert.Contains(t, s.Message, `cluster "gone" is unreachable`)
		assert.Less(t, took, 15*time.Second, "bounded, not a hang")
	})

	t.Run("bad credentials", func(t *testing.T) {
		framework.Kubectl(t, env, "host", framework.ClusterManifest(framework.Cluster{Name: "nocreds", Endpoint: env.MemberURL("member1"), Secret: "does-not-exist"}), "apply", "-f", "-")
		defer func() { _, _ = framework.TryKubectl(t, env, "host", "", "delete", "cluster", "nocreds") }()
		var s metav1.Status
		require.Eventually(t, func() bool {
			s, _ = getStatus(t, env.DirectPathURL("nocreds")+"/version")
			return s.Code == http.StatusServiceUnavailable
		}, 20*time.Second, 500*time.Millisecond)
		assert.Contains(t, s.Message, `cluster "nocreds": credentials Secret kubesphere-system/does-not-exist not found`)

		framework.Kubectl(t, env, "host", "", "create", "secret", "generic", "-n", "kubesphere-system", "garbage-creds", "--from-literal=kubeconfig=not yaml: [")
		defer func() {
			_, _ = framework.TryKubectl(t, env, "host", "", "delete", "secret", "-n", "kubesphere-system", "garbage-creds")
		}()
		framework.Kubectl(t, env, "host", framework.ClusterManifest(framework.Cluster{Name: "nocreds", Endpoint: env.MemberURL("member1"), Secret: "garbage-creds"}), "apply", "-f", "-")
		require.Eventually(t, func() bool {
			s, _ = getStatus(t, env.DirectPathURL("nocreds")+"/version")
			return strings.Contains(s.Message, "garbage-creds: the kubeconfig does not parse")
		}, 20*time.Second, 500*time.Millisecond, "the transport is rebuilt when the Cluster changes: %s", s.Message)
	})

	t.Run("member errors pass through", func(t *testing.T) {
		_, err := env.Kubectl(ctx, "member1-via-host", "", "get", "configmap", "no-such-thing")
		require.Error(t, err)
		assert.Contains(t, err.Error(), `configmaps "no-such-thing" not found`)
		_, err = env.Kubectl(ctx, "member1-via-host", "", "create", "configmap", "Bad_Name")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "is invalid")
	})
}

// pin sets a Cluster's identity (status.uid) as the host admin may.
func pin(t *testing.T, cluster, uid string) {
	t.Helper()
	require.NotEmpty(t, uid)
	require.Eventually(t, func() bool {
		_, err := framework.TryKubectl(t, env, "host", "", "patch", "cluster", cluster, "--subresource=status", "--type=merge", "-p", `{"status":{"uid":"`+uid+`"}}`)
		return err == nil
	}, 20*time.Second, 250*time.Millisecond, "pinning %s", cluster)
}

// getStatus GETs url as the host admin and decodes the Status answer.
func getStatus(t *testing.T, url string) (metav1.Status, time.Duration) {
	t.Helper()
	cfg := framework.AdminRESTConfig(t, env, env.ClusterAPIServerURL())
	cfg.Timeout = 2 * time.Minute // a hang fails here, not at the suite's timeout
	client, err := rest.HTTPClientFor(cfg)
	require.NoError(t, err)
	start := time.Now()
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	var s metav1.Status
	body, _ := io.ReadAll(resp.Body)
	require.NoError(t, json.Unmarshal(body, &s), "a Status object: %s", body)
	assert.Equal(t, int32(resp.StatusCode), s.Code)
	return s, time.Since(start)
}
