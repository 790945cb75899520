// The harness of FuzzClusterPathResolver: members that record what reaches them, and the
// proxy core served the way cluster-apiserver serves it, on both paths.

package proxy

import (
	"bufio"
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilproxy "k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/handlers"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/apis/clusters/install"
	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	clusterlisters "kubesphere.io/multicluster/generated/listers/clusters/v1alpha1"
	"kubesphere.io/multicluster/pkg/clusterconn"
)

// fuzzClusters are the members of the resolver fuzz test. "ab" starts like "a": a path of
// one must never reach the other.
var fuzzClusters = []string{"a", "ab", "b"}

// memberRequest is what a member received.
type memberRequest struct {
	path, escapedPath, query, user string
}

// proxyHarness is the proxy core between its two entry points and real members: one TLS
// server on 127.0.0.1 for every cluster, each cluster's endpoint under /members/<name>, so
// the path a member receives says which cluster it was sent to.
type proxyHarness struct {
	resolver    RequestInfoResolver
	clusterPath http.Handler
	subresource http.Handler
	codecs      serializer.CodecFactory

	mu       sync.Mutex
	received []memberRequest
}

func newProxyHarness(tb testing.TB) *proxyHarness {
	h := &proxyHarness{}
	member := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The host's identity check (with its own credential, no impersonation): each
		// cluster's kube-system namespace has the UID its Cluster is pinned to.
		if name, ok := strings.CutPrefix(r.URL.Path, "/members/"); ok && r.Header.Get("Impersonate-User") == "" {
			if name, ok = strings.CutSuffix(name, "/api/v1/namespaces/kube-system"); ok {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"kube-system","uid":"uid-` + name + `"}}`))
				return
			}
		}
		h.mu.Lock()
		h.received = append(h.received, memberRequest{path: r.URL.Path, escapedPath: r.URL.EscapedPath(), query: r.URL.RawQuery,
			user: r.Header.Get("Impersonate-User")})
		h.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("member"))
	}))
	tb.Cleanup(member.Close)

	secrets := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	if err := secrets.Add(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "credentials", Namespace: "kubesphere-system"},
		Data: map[string][]byte{"token": []byte("host-token")}}); err != nil {
		tb.Fatal(err)
	}
	clusterIndex := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, name := range fuzzClusters {
		if err := clusterIndex.Add(&v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.ClusterSpec{
			Connection: v1alpha1.Connection{Type: v1alpha1.ConnectionDirect, KubernetesAPIEndpoint: member.URL + "/members/" + name,
				CABundle:             pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: member.Certificate().Raw}),
				CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: "kubesphere-system", Name: "credentials"}}},
			Status: v1alpha1.ClusterStatus{UID: "uid-" + name}}); err != nil {
			tb.Fatal(err)
		}
	}
	p := New(clusterlisters.NewClusterLister(clusterIndex), clusterconn.NewBackends(corelisters.NewSecretLister(secrets), "kubesphere-system", nil))

	// As cluster-apiserver is set up (pkg/apiserver): the generic server's resolver for
	// /api and /apis under ours, /clusters/ on the non-go-restful mux, and the subresource
	// served by the generic server's own connect handler, which reads the name and the
	// path option from the RequestInfo.
	scheme := runtime.NewScheme()
	install.Install(scheme)
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	h.codecs = serializer.NewCodecFactory(scheme)
	h.resolver = RequestInfoResolver{Delegate: &request.RequestInfoFactory{
		APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}}
	h.clusterPath = p.ClusterPathHandler(h.codecs)
	scope := &handlers.RequestScope{
		Namer:          handlers.ContextBasedNaming{Namer: meta.NewAccessor(), ClusterScoped: true},
		Serializer:     h.codecs,
		ParameterCodec: runtime.NewParameterCodec(scheme),
		Resource:       v1alpha1.SchemeGroupVersion.WithResource("clusters"),
		Kind:           v1alpha1.SchemeGroupVersion.WithKind("Cluster"),
		Subresource:    "proxy",
	}
	h.subresource = handlers.ConnectResource(proxyConnecter{p}, scope, nil, "clusters/proxy", true)
	return h
}

// proxyConnecter is pkg/registry/cluster's ProxyREST (which imports this package, so it
// cannot be imported here): the path option goes to the proxy core as is.
type proxyConnecter struct{ p *Proxy }

func (proxyConnecter) New() runtime.Object { return &clusters.ClusterProxyOptions{} }
func (proxyConnecter) Destroy()            {}
func (proxyConnecter) ConnectMethods() []string {
	return []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
}
func (proxyConnecter) NewConnectOptions() (runtime.Object, bool, string) {
	return &clusters.ClusterProxyOptions{}, true, "path"
}
func (c proxyConnecter) Connect(_ context.Context, name string, opts runtime.Object, responder rest.Responder) (http.Handler, error) {
	o := opts.(*clusters.ClusterProxyOptions)
	errs := utilproxy.NewErrorResponder(responder)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c.p.Serve(w, req, name, o.Path, errs)
	}), nil
}

var _ rest.Connecter = proxyConnecter{}

type route int

const (
	routeNone route = iota
	routeClusterPath
	routeSubresource
)

// serve reads target as the HTTP server would from a request line and serves it on the
// route cluster-apiserver would take. ok is false when the server would refuse the request
// line before any handler.
func (h *proxyHarness) serve(t *testing.T, target string) (req *http.Request, info *request.RequestInfo, rt route, rec *httptest.ResponseRecorder, got []memberRequest, ok bool) {
	if strings.ContainsAny(target, " \r\n") {
		return nil, nil, routeNone, nil, nil, false
	}
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: cluster-apiserver\r\n\r\n")))
	if err != nil {
		return nil, nil, routeNone, nil, nil, false
	}
	req.RemoteAddr = "127.0.0.1:40000"
	info, err = h.resolver.NewRequestInfo(req)
	if err != nil {
		return req, nil, routeNone, nil, nil, true
	}
	// Whatever the path, judging it never panics.
	_ = LongRunningCheck(func(*http.Request, *request.RequestInfo) bool { return false })(req, info)
	_ = IsProxyPath(req.URL.Path)

	ctx := request.WithRequestInfo(req.Context(), info)
	ctx = request.WithUser(ctx, &user.DefaultInfo{Name: "fuzz-user", Groups: []string{"fuzzers"}})
	req = req.WithContext(ctx)
	rec = httptest.NewRecorder()
	h.mu.Lock()
	h.received = nil
	h.mu.Unlock()
	switch {
	case strings.HasPrefix(req.URL.Path, ClusterPathPrefix):
		rt = routeClusterPath
		h.clusterPath.ServeHTTP(rec, req)
	case isProxyInfo(info) && info.Namespace == "" && strings.HasPrefix(req.URL.Path, subresourcePrefix):
		// go-restful's routes clusters/{name}/proxy and clusters/{name}/proxy/{path:*}.
		rt = routeSubresource
		h.subresource.ServeHTTP(rec, req)
	}
	h.mu.Lock()
	got = h.received
	h.mu.Unlock()
	return req, info, rt, rec, got, true
}
