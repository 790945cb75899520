package proxy

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	clusterlisters "kubesphere.io/multicluster/generated/listers/clusters/v1alpha1"
	"kubesphere.io/multicluster/pkg/clusterconn"
)

// A proxied stream that never ends by itself (a watch) is ended by Shutdown, so that it
// cannot hold a stopping server.
func TestShutdownEndsStreams(t *testing.T) {
	member := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if serveIdentity(w, r, "uid-m") {
			return
		}
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // streams until the proxy goes away
	}))
	defer member.Close()
	p, _ := proxyTo(t, member, "uid-m")

	req := httptest.NewRequest("GET", "/clusters/m/api/v1/pods?watch=1", nil)
	req = req.WithContext(request.WithUser(req.Context(), &user.DefaultInfo{Name: "alice"}))
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			// ReverseProxy aborts a response whose body copy failed; net/http would
			// reset the stream.
			if r := recover(); r != nil && r != http.ErrAbortHandler {
				panic(r)
			}
		}()
		p.Serve(rec, req, "m", "/api/v1/pods", plainResponder{})
	}()
	select {
	case <-done:
		t.Fatal("the stream ended before Shutdown")
	case <-time.After(300 * time.Millisecond):
	}
	p.Shutdown(0)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not end the proxied stream")
	}
	assert.Equal(t, http.StatusOK, rec.Code, "the stream had started")
}

// serveIdentity answers the identity check as a member whose kube-system UID is uid.
func serveIdentity(w http.ResponseWriter, r *http.Request, uid string) bool {
	if r.URL.Path != "/api/v1/namespaces/kube-system" {
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"kube-system","uid":%q}}`, uid)
	return true
}

// proxyTo is a proxy with one Direct cluster "m" at member, pinned to uid.
func proxyTo(t *testing.T, member *httptest.Server, uid string) (*Proxy, cache.Indexer) {
	secrets := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	require.NoError(t, secrets.Add(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "m-credentials", Namespace: "kubesphere-system"},
		Data: map[string][]byte{"token": []byte("t")}}))
	clusters := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	require.NoError(t, clusters.Add(&v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "m", Generation: 1}, Spec: v1alpha1.ClusterSpec{
		Connection: v1alpha1.Connection{Type: v1alpha1.ConnectionDirect, KubernetesAPIEndpoint: member.URL,
			CABundle:             pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: member.Certificate().Raw}),
			CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: "kubesphere-system", Name: "m-credentials"}}},
		Status: v1alpha1.ClusterStatus{UID: uid}}))
	return New(clusterlisters.NewClusterLister(clusters), clusterconn.NewBackends(corelisters.NewSecretLister(secrets), "kubesphere-system", nil)), clusters
}

// A member is reached only when it is the one its Cluster pins: another cluster behind
// the same credentials is refused with a Status naming both identities, before any
// request of the user's reaches it, and an unpinned Cluster is not reached at all.
func TestIdentityPinning(t *testing.T) {
	var served []string
	member := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if serveIdentity(w, r, "uid-other") {
			return
		}
		served = append(served, r.URL.Path)
	}))
	defer member.Close()
	serve := func(p *Proxy) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/clusters/m/api/v1/pods", nil)
		req = req.WithContext(request.WithUser(req.Context(), &user.DefaultInfo{Name: "alice"}))
		rec := httptest.NewRecorder()
		p.Serve(rec, req, "m", "/api/v1/pods", statusCodeResponder{})
		return rec
	}

	p, clusters := proxyTo(t, member, "uid-m")
	for range 2 { // and again from the cached backend
		rec := serve(p)
		assert.Equal(t, http.StatusBadGateway, rec.Code)
		assert.Contains(t, rec.Body.String(), `IdentityMismatch: cluster "m" answered with identity uid-other`)
		assert.Contains(t, rec.Body.String(), "pinned to uid-m")
	}
	assert.Empty(t, served, "no request of the user's reached the other cluster")

	obj, _, _ := clusters.GetByKey("m")
	unpinned := obj.(*v1alpha1.Cluster).DeepCopy()
	unpinned.Status.UID = ""
	require.NoError(t, clusters.Update(unpinned))
	rec := serve(p)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Contains(t, rec.Body.String(), "no verified identity yet")
	assert.Empty(t, served)

	pinned := unpinned.DeepCopy()
	pinned.Status.UID = "uid-other"
	require.NoError(t, clusters.Update(pinned))
	assert.Equal(t, http.StatusOK, serve(p).Code, "the member the Cluster pins is reached")
	assert.Equal(t, []string{"/api/v1/pods"}, served)
}

// statusCodeResponder writes the Status an error carries, with its reason.
type statusCodeResponder struct{}

func (statusCodeResponder) Error(w http.ResponseWriter, _ *http.Request, err error) {
	code := http.StatusInternalServerError
	reason := ""
	if s, ok := err.(apierrors.APIStatus); ok {
		code, reason = int(s.Status().Code), string(s.Status().Reason)
	}
	http.Error(w, reason+": "+err.Error(), code)
}

type plainResponder struct{}

func (plainResponder) Error(w http.ResponseWriter, _ *http.Request, err error) {
	http.Error(w, err.Error(), http.StatusBadGateway)
}
