package secureserving

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// testPairName names the self-signed certificate's files under --cert-dir.
const testPairName = "test-serving"

// newTestOptions are a component's defaults; every test listens on a port of its own.
func newTestOptions() *Options { return NewOptions(testPairName, 0) }

// fakeHost answers the TokenReviews and SubjectAccessReviews of the delegated
// authentication and authorization: the token "reader-token" is the user "reader", who
// may get /metrics and nothing else. With authConfig it serves the configmap
// kube-system/extension-apiserver-authentication (get, list and a watch that never
// changes); without it the configmap is not found, with hideAuthConfig it is forbidden.
type fakeHost struct {
	reviews, accessReviews atomic.Int32
	authConfig             map[string]string
	hideAuthConfig         bool
	// refuseAccessReviews answers every SubjectAccessReview 403, as a host whose RBAC
	// does not let this component create them.
	refuseAccessReviews bool
	// lastAccessReviewUser is the user of the last SubjectAccessReview.
	lastAccessReviewUser atomic.Value
}

func (f *fakeHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	const configMaps = "/api/v1/namespaces/kube-system/configmaps"
	switch r.URL.Path {
	case "/apis/authentication.k8s.io/v1/tokenreviews":
		f.reviews.Add(1)
		var tr authenticationv1.TokenReview
		_ = json.NewDecoder(r.Body).Decode(&tr)
		if tr.Spec.Token == "reader-token" {
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true,
				User: authenticationv1.UserInfo{Username: "reader", Groups: []string{"system:authenticated"}}}
		} else {
			tr.Status = authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}
		}
		tr.APIVersion, tr.Kind = "authentication.k8s.io/v1", "TokenReview"
		_ = json.NewEncoder(w).Encode(tr)
	case "/apis/authorization.k8s.io/v1/subjectaccessreviews":
		f.accessReviews.Add(1)
		if f.refuseAccessReviews {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,"message":"cannot create subjectaccessreviews"}`))
			return
		}
		var sar authorizationv1.SubjectAccessReview
		_ = json.NewDecoder(r.Body).Decode(&sar)
		f.lastAccessReviewUser.Store(sar.Spec.User)
		nr := sar.Spec.NonResourceAttributes
		sar.Status.Allowed = sar.Spec.User == "reader" && nr != nil && nr.Path == "/metrics" && nr.Verb == "get"
		sar.APIVersion, sar.Kind = "authorization.k8s.io/v1", "SubjectAccessReview"
		_ = json.NewEncoder(w).Encode(sar)
	case configMaps + "/extension-apiserver-authentication", configMaps:
		switch {
		case f.hideAuthConfig:
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,"message":"configmaps is forbidden"}`))
		case r.URL.Query().Get("watch") == "true":
			// A watch list (client-go's informers): the configmap, the end of the initial
			// events, then nothing.
			enc := json.NewEncoder(w)
			if f.authConfig != nil {
				_ = enc.Encode(map[string]any{"type": "ADDED", "object": f.configMap()})
			}
			_ = enc.Encode(map[string]any{"type": "BOOKMARK", "object": corev1.ConfigMap{TypeMeta: metav1.TypeMeta{Kind: "ConfigMap", APIVersion: "v1"},
				ObjectMeta: metav1.ObjectMeta{ResourceVersion: "1", Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}}})
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		case r.URL.Path == configMaps:
			list := corev1.ConfigMapList{TypeMeta: metav1.TypeMeta{Kind: "ConfigMapList", APIVersion: "v1"}, ListMeta: metav1.ListMeta{ResourceVersion: "1"}}
			if f.authConfig != nil {
				list.Items = []corev1.ConfigMap{f.configMap()}
			}
			_ = json.NewEncoder(w).Encode(list)
		case f.authConfig == nil:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`))
		default:
			_ = json.NewEncoder(w).Encode(f.configMap())
		}
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeHost) configMap() corev1.ConfigMap {
	return corev1.ConfigMap{TypeMeta: metav1.TypeMeta{Kind: "ConfigMap", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "extension-apiserver-authentication", ResourceVersion: "1"},
		Data:       f.authConfig}
}

// hostKubeconfig writes a kubeconfig for srv.
func hostKubeconfig(t *testing.T, srv *httptest.Server) string {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	cfg := `apiVersion: v1
kind: Config
clusters: [{name: host, cluster: {server: "` + srv.URL + `", certificate-authority-data: "` + base64.StdEncoding.EncodeToString(ca) + `"}}]
users: [{name: cm, user: {token: cm-token}}]
contexts: [{name: host, context: {cluster: host, user: cm}}]
current-context: host
`
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	return path
}

// testCA is a CA that issues client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// issue makes a client certificate for the user cn.
func (ca *testCA) issue(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// startServing serves /metrics and the health checks as controller-manager does, with the delegated
// reviews going to host, and returns the base URL.
func startServing(t *testing.T, host *fakeHost, configure func(*Options)) string {
	t.Helper()
	srv := httptest.NewTLSServer(host)
	t.Cleanup(srv.Close)
	o := newTestOptions()
	kubeconfig := hostKubeconfig(t, srv)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	o.Serving.Listener = l
	if configure != nil {
		configure(o)
	}
	require.NoError(t, utilerrors.NewAggregate(o.Validate()))
	c, err := o.Config(kubeconfig)
	require.NoError(t, err)
	registry := prometheus.NewRegistry()
	registry.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "kubesphere_test_gauge", Help: "A test gauge."}))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	require.NoError(t, c.Serve(ctx, NewMux(registry)))
	return "https://" + l.Addr().String()
}

// fetch GETs url presenting cert (when not nil) and the headers; the server's certificate
// is not checked here (TestServe does).
func fetch(t *testing.T, url string, cert *tls.Certificate, header map[string]string) (int, string) {
	t.Helper()
	cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // the server is this test's
	if cert != nil {
		// Presented even when its CA is not one the server names.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func freeTestPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
