package proxy

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
)

func TestCleanPath(t *testing.T) {
	ok := map[string]string{
		"":                                 "/",
		"/":                                "/",
		"api/v1/pods":                      "/api/v1/pods",
		"/api/v1/namespaces/default/pods/": "/api/v1/namespaces/default/pods/",
		"/api/v1/namespaces/a%20b":         "/api/v1/namespaces/a b",
		"/openapi/v3":                      "/openapi/v3",
	}
	for in, want := range ok {
		got, err := cleanPath(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{
		"/api/../../clusters/member2/api", "/..", "/api/./v1", "..",
		"/api%2F..%2Fclusters", "/api/%2e%2e/secret", "/api/%2E%2E", "/api\\..\\x",
		"/api/v1/%0d%0aInjected: yes", "/api/%zz", "/api/%252e%252e/x", "/a%2541",
	} {
		_, err := cleanPath(bad)
		assert.Error(t, err, bad)
	}
}

func TestStripIdentity(t *testing.T) {
	h := http.Header{}
	h.Set("Authorization", "Bearer stolen")
	h.Set("Proxy-Authorization", "Basic x")
	h.Set("Impersonate-User", "admin")
	h.Add("Impersonate-Group", "system:masters")
	h.Set("Impersonate-Uid", "1")
	h.Set("Impersonate-Extra-Scopes", "all")
	h.Set("X-Remote-User", "admin")
	h.Set("X-Remote-Group", "system:masters")
	h.Set("X-Remote-Extra-Foo", "bar")
	h.Set("Cookie", "session=1")
	h.Set("Sec-WebSocket-Protocol", "v5.channel.k8s.io, base64url.bearer.authorization.k8s.io.c2VjcmV0, v4.channel.k8s.io")
	h.Set("Accept", "application/json")
	h.Set("Content-Type", "application/apply-patch+yaml")
	stripIdentity(h)
	assert.Equal(t, http.Header{
		"Accept":                 {"application/json"},
		"Content-Type":           {"application/apply-patch+yaml"},
		"Sec-Websocket-Protocol": {"v5.channel.k8s.io, v4.channel.k8s.io"},
	}, h)

	only := http.Header{"Sec-Websocket-Protocol": {"base64url.bearer.authorization.k8s.io.c2VjcmV0"}}
	stripIdentity(only)
	assert.Empty(t, only)
}

func TestImpersonate(t *testing.T) {
	h := http.Header{}
	impersonate(h, &user.DefaultInfo{
		Name: "alice", UID: "42", Groups: []string{"developers", user.AllAuthenticated},
		Extra: map[string][]string{"authentication.kubernetes.io/credential-id": {"X509SHA256=ab"}, "scopes": {"a", "b"}},
	})
	assert.Equal(t, "alice", h.Get("Impersonate-User"))
	assert.Equal(t, "42", h.Get("Impersonate-Uid"))
	assert.Equal(t, []string{"developers"}, h.Values("Impersonate-Group"), "system:authenticated is added by the member")
	assert.Equal(t, []string{"X509SHA256=ab"}, h.Values("Impersonate-Extra-authentication.kubernetes.io%2Fcredential-id"))
	assert.Equal(t, []string{"a", "b"}, h.Values("Impersonate-Extra-Scopes"))

	// Keys with characters no header name may hold are still sent (the transport refuses
	// invalid names), and decode back to the key (lowercased, as the member reads it).
	odd := http.Header{}
	key := "example.com/a:b@c=d %e"
	impersonate(odd, &user.DefaultInfo{Name: "alice", Extra: map[string][]string{key: {"v"}}})
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		for name := range r.Header {
			if rest, ok := strings.CutPrefix(name, "Impersonate-Extra-"); ok {
				decoded, err := url.PathUnescape(rest)
				assert.NoError(t, err)
				got = append(got, strings.ToLower(decoded))
			}
		}
	}))
	defer srv.Close()
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	req.Header = odd
	resp, err := srv.Client().Do(req)
	require.NoError(t, err, "every header name is valid")
	resp.Body.Close()
	assert.Equal(t, []string{key}, got)
	assert.Len(t, odd, 2, "Impersonate-User and one extra")
}

func TestRequestInfoResolver(t *testing.T) {
	r := RequestInfoResolver{Delegate: &request.RequestInfoFactory{APIPrefixes: nil}}
	for method, verb := range map[string]string{"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"} {
		info, err := r.NewRequestInfo(httptest.NewRequest(method, "/clusters/member1/api/v1/pods?watch=true", nil))
		require.NoError(t, err)
		assert.Equal(t, request.RequestInfo{
			IsResourceRequest: true, Path: "/clusters/member1/api/v1/pods", Verb: verb, APIPrefix: "apis",
			APIGroup: "clusters.kubesphere.io", APIVersion: "v1alpha1", Resource: "clusters", Subresource: "proxy",
			Name: "member1", Parts: []string{"clusters", "member1", "api", "v1", "pods"},
		}, *info)
	}
	info, err := r.NewRequestInfo(httptest.NewRequest("GET", "/healthz", nil))
	require.NoError(t, err)
	assert.False(t, info.IsResourceRequest)
}

// An upgrade runs commands or opens ports: it needs create on clusters/proxy whatever its
// method, on both paths (kubectl's WebSocket exec is a GET).
func TestUpgradesAreCreates(t *testing.T) {
	r := RequestInfoResolver{Delegate: &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}}
	for _, path := range []string{
		"/clusters/member1/api/v1/namespaces/default/pods/web/exec?command=sh",
		"/apis/clusters.kubesphere.io/v1alpha1/clusters/member1/proxy/api/v1/namespaces/default/pods/web/exec?command=sh",
		"/apis/clusters.kubesphere.io/v1alpha1/clusters/member1/proxy/api/v1/namespaces/default/pods/web/portforward",
	} {
		for _, upgrade := range []string{"websocket", "SPDY/3.1"} {
			for _, method := range []string{"GET", "POST", "HEAD"} {
				req := httptest.NewRequest(method, path, nil)
				req.Header.Set("Connection", "Upgrade")
				req.Header.Set("Upgrade", upgrade)
				info, err := r.NewRequestInfo(req)
				require.NoError(t, err)
				assert.Equal(t, "create", info.Verb, "%s %s (%s)", method, path, upgrade)
				assert.Equal(t, "member1", info.Name)
			}
		}
		plain, err := r.NewRequestInfo(httptest.NewRequest("GET", path, nil))
		require.NoError(t, err)
		assert.Equal(t, "get", plain.Verb, "a GET that is no upgrade stays a get")
	}
	// Upgrades elsewhere are not ours to judge.
	req := httptest.NewRequest("GET", "/apis/clusters.kubesphere.io/v1alpha1/clusters?watch=true", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	info, err := r.NewRequestInfo(req)
	require.NoError(t, err)
	assert.Equal(t, "watch", info.Verb)
}

func TestRefuseRedirect(t *testing.T) {
	ok := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody}
	require.NoError(t, refuseRedirect(ok))
	notModified := &http.Response{StatusCode: http.StatusNotModified, Header: http.Header{}, Body: http.NoBody}
	require.NoError(t, refuseRedirect(notModified), "a 3xx without Location is no redirect")

	redirect := &http.Response{StatusCode: http.StatusFound, Header: http.Header{"Location": {"https://evil.example/"}}, Body: http.NoBody}
	err := refuseRedirect(redirect)
	require.Error(t, err)
	status, ok2 := err.(apierrors.APIStatus)
	require.True(t, ok2, "the error is a Kubernetes Status")
	assert.Equal(t, int32(http.StatusBadGateway), status.Status().Code)
	assert.Contains(t, status.Status().Message, "https://evil.example/")
}

func TestDropHostCopies(t *testing.T) {
	ours := http.Header{"Audit-Id": {"a1"}, "Cache-Control": {"no-cache, private"}, "Warning": {"299 - host"}}
	dropHostCopies(ours, http.Header{"Audit-Id": {"a1"}, "Cache-Control": {"max-age=0"}, "Warning": {"299 - member"}})
	assert.Equal(t, http.Header{"Warning": {"299 - host"}}, ours, "only what the member sets itself gives way; warnings add up")

	ours = http.Header{"Audit-Id": {"a1"}, "Cache-Control": {"no-cache, private"}}
	dropHostCopies(ours, http.Header{"Content-Type": {"application/json"}})
	assert.Equal(t, http.Header{"Audit-Id": {"a1"}, "Cache-Control": {"no-cache, private"}}, ours, "a member that sets neither leaves ours")
}
