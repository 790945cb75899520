package proxy

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
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
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // streams until the proxy goes away
	}))
	defer member.Close()

	secrets := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	require.NoError(t, secrets.Add(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "m-credentials", Namespace: "kubesphere-system"},
		Data: map[string][]byte{"token": []byte("t")}}))
	clusters := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	require.NoError(t, clusters.Add(&v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "m"}, Spec: v1alpha1.ClusterSpec{
		Connection: v1alpha1.Connection{Type: v1alpha1.ConnectionDirect, KubernetesAPIEndpoint: member.URL,
			CABundle:             pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: member.Certificate().Raw}),
			CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: "kubesphere-system", Name: "m-credentials"}}}}))
	p := New(clusterlisters.NewClusterLister(clusters), clusterconn.NewBackends(corelisters.NewSecretLister(secrets), "kubesphere-system", nil))

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

type plainResponder struct{}

func (plainResponder) Error(w http.ResponseWriter, _ *http.Request, err error) {
	http.Error(w, err.Error(), http.StatusBadGateway)
}
