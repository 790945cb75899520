package app

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
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

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

func TestFlags(t *testing.T) {
	o := NewOptions()
	fss := o.Flags()
	flag := func(name string) string {
		for _, fs := range fss.FlagSets {
			if f := fs.Lookup(name); f != nil {
				return f.DefValue
			}
		}
		return "<none>"
	}
	assert.Equal(t, "127.0.0.1", flag("bind-address"))
	assert.Equal(t, "10360", flag("secure-port"))
	assert.Equal(t, "", flag("cert-dir"), "the self-signed certificate is made in memory")
	assert.Equal(t, "[/healthz,/readyz,/livez]", flag("authorization-always-allow-paths"))
	assert.Equal(t, "<none>", flag("metrics-bind-address"))
	for _, name := range []string{"tls-cert-file", "client-ca-file", "authentication-kubeconfig", "authorization-kubeconfig", "requestheader-client-ca-file"} {
		assert.NotEqual(t, "<none>", flag(name), name)
	}

	o.SecureServing.BindPort = 70000
	assert.ErrorContains(t, o.Validate(), "--secure-port 70000 is not a port: 1 to 65535, or 0 to serve nothing")
}

func TestSecurePortZeroServesNothing(t *testing.T) {
	o := NewOptions()
	o.SecureServing.BindPort = 0
	require.NoError(t, o.Validate())
	c, err := o.Config()
	require.NoError(t, err)
	assert.Nil(t, c.SecureServing)
}

// TestServe: over HTTPS with a self-signed certificate, /metrics only to a caller the host
// authenticates and authorizes, the health checks to anyone; the reviews go to the host of
// --kubeconfig when no delegated kubeconfig is given.
func TestServe(t *testing.T) {
	host := &fakeHost{}
	srv := httptest.NewTLSServer(host)
	defer srv.Close()

	o := NewOptions()
	o.Kubeconfig = hostKubeconfig(t, srv)
	// The fake host has no configmap kube-system/extension-apiserver-authentication.
	o.Authentication.SkipInClusterLookup = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	o.SecureServing.Listener = l
	require.NoError(t, o.Validate())
	c, err := o.Config()
	require.NoError(t, err)
	require.NotNil(t, c.SecureServing)

	registry := prometheus.NewRegistry()
	registry.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "kubesphere_test_gauge", Help: "A test gauge."}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, serve(ctx, c, registry))

	base := "https://" + l.Addr().String()
	// The served certificate is the self-signed one made at start, for 127.0.0.1.
	generated, _ := o.SecureServing.GeneratedCert.CurrentCertKeyContent()
	block, _ := pem.Decode(generated)
	require.NotNil(t, block, "a certificate was made in memory")
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}

	get := func(path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, path := range []string{"/healthz", "/livez", "/readyz"} {
		code, body := get(path, "")
		assert.Equal(t, http.StatusOK, code, path)
		assert.Equal(t, "ok", body, path)
	}
	assert.Zero(t, host.accessReviews.Load(), "the health checks are allowed without asking the host")

	code, body := get("/metrics", "")
	assert.Equal(t, http.StatusForbidden, code, "anonymous")
	assert.NotContains(t, body, "kubesphere_test_gauge")
	assert.Contains(t, body, `User \"system:anonymous\" cannot get path \"/metrics\"`)

	code, body = get("/metrics", "not-a-token")
	assert.Equal(t, http.StatusUnauthorized, code, "a token the host rejects")
	assert.NotContains(t, body, "kubesphere_test_gauge")

	code, body = get("/metrics", "reader-token")
	assert.Equal(t, http.StatusOK, code, "the reader")
	assert.Contains(t, body, "kubesphere_test_gauge 0")

	code, _ = get("/debug/pprof/", "reader-token")
	assert.Equal(t, http.StatusForbidden, code, "the reader may get /metrics only")
	assert.NotZero(t, host.reviews.Load(), "tokens were reviewed by the host of --kubeconfig")
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

// startServing serves /metrics and the health checks as Run does, with the delegated
// reviews going to host, and returns the base URL.
func startServing(t *testing.T, host *fakeHost, configure func(*Options)) string {
	t.Helper()
	srv := httptest.NewTLSServer(host)
	t.Cleanup(srv.Close)
	o := NewOptions()
	o.Kubeconfig = hostKubeconfig(t, srv)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	o.SecureServing.Listener = l
	if configure != nil {
		configure(o)
	}
	require.NoError(t, o.Validate())
	c, err := o.Config()
	require.NoError(t, err)
	registry := prometheus.NewRegistry()
	registry.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "kubesphere_test_gauge", Help: "A test gauge."}))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	require.NoError(t, serve(ctx, c, registry))
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

// TestServeClientCertificatesOfTheHost: with no CA flags the client CA and the front
// proxy's CA, allowed names and headers come from the host's configmap
// kube-system/extension-apiserver-authentication, as with k8s.io/apiserver's delegating
// options: a client certificate of the client CA is its common name, the front proxy's
// headers count only from the front proxy's certificate.
func TestServeClientCertificatesOfTheHost(t *testing.T) {
	clientCA, proxyCA := newTestCA(t, "client-ca"), newTestCA(t, "front-proxy-ca")
	host := &fakeHost{authConfig: map[string]string{
		"client-ca-file":                     clientCA.pem,
		"requestheader-client-ca-file":       proxyCA.pem,
		"requestheader-allowed-names":        `["front-proxy-client"]`,
		"requestheader-username-headers":     `["X-Remote-User"]`,
		"requestheader-group-headers":        `["X-Remote-Group"]`,
		"requestheader-extra-headers-prefix": `["X-Remote-Extra-"]`,
	}}
	base := startServing(t, host, nil)
	reader, frontProxy := clientCA.issue(t, "reader"), proxyCA.issue(t, "front-proxy-client")

	// The client CA arrives with the configmap informer, just after the start.
	require.Eventually(t, func() bool {
		code, _ := fetch(t, base+"/metrics", &reader, nil)
		return code == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond, "a client certificate of the host's client CA")
	assert.Equal(t, "reader", host.lastAccessReviewUser.Load())

	code, body := fetch(t, base+"/metrics", &frontProxy, map[string]string{"X-Remote-User": "reader"})
	assert.Equal(t, http.StatusOK, code, "the front proxy naming the reader: %s", body)

	stranger := newTestCA(t, "client-ca").issue(t, "reader")
	code, body = fetch(t, base+"/metrics", &stranger, nil)
	assert.Equal(t, http.StatusUnauthorized, code, "a certificate of a CA the host does not trust: %s", body)

	otherProxy := proxyCA.issue(t, "not-the-front-proxy")
	code, body = fetch(t, base+"/metrics", &otherProxy, map[string]string{"X-Remote-User": "reader"})
	assert.Equal(t, http.StatusUnauthorized, code, "a certificate of the front-proxy CA with a name not allowed: %s", body)

	code, body = fetch(t, base+"/metrics", nil, map[string]string{"X-Remote-User": "reader", "X-Remote-Group": "system:masters"})
	assert.Equal(t, http.StatusForbidden, code, "front-proxy headers without its certificate are anonymous")
	assert.Contains(t, body, `User \"system:anonymous\" cannot get path \"/metrics\"`)

	someone := clientCA.issue(t, "someone")
	code, _ = fetch(t, base+"/metrics", &someone, map[string]string{"X-Remote-User": "reader", "X-Remote-Group": "system:masters"})
	assert.Equal(t, http.StatusForbidden, code, "a user's certificate with front-proxy headers is the user, not the headers")
	assert.Equal(t, "someone", host.lastAccessReviewUser.Load())
}

// TestConfigFailsClosed: a host that will not show its client CAs fails the start (the
// Role extension-apiserver-authentication-reader is missing), unless tolerated.
func TestConfigFailsClosed(t *testing.T) {
	srv := httptest.NewTLSServer(&fakeHost{hideAuthConfig: true})
	defer srv.Close()
	o := NewOptions()
	o.Kubeconfig = hostKubeconfig(t, srv)
	o.SecureServing.BindPort = freeTestPort(t)
	require.NoError(t, o.Validate())
	_, err := o.Config()
	require.ErrorContains(t, err, "extension-apiserver-authentication-reader")
	require.ErrorContains(t, err, "forbidden")
	// The port was let go.
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.SecureServing.BindPort)))
	require.NoError(t, err)
	require.NoError(t, l.Close())

	// The same with the front proxy's CA given by a flag: the client CA is still the host's.
	o.Authentication.RequestHeader.ClientCAFile = filepath.Join(t.TempDir(), "front-proxy-ca.crt")
	require.NoError(t, os.WriteFile(o.Authentication.RequestHeader.ClientCAFile, []byte(newTestCA(t, "front-proxy-ca").pem), 0o600))
	_, err = o.Config()
	require.ErrorContains(t, err, "forbidden")

	o.Authentication.TolerateInClusterLookupFailure = true
	c, err := o.Config()
	require.NoError(t, err)
	require.NoError(t, c.SecureServing.Listener.Close())
}

func freeTestPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestServeReviewsFailClosed: when the host does not answer a SubjectAccessReview the
// request fails (500), it never passes; a token's review is kept (one review for two
// requests).
func TestServeReviewsFailClosed(t *testing.T) {
	host := &fakeHost{refuseAccessReviews: true}
	base := startServing(t, host, func(o *Options) { o.Authentication.SkipInClusterLookup = true })
	auth := map[string]string{"Authorization": "Bearer reader-token"}
	code, body := fetch(t, base+"/metrics", nil, auth)
	assert.Equal(t, http.StatusInternalServerError, code)
	assert.NotContains(t, body, "kubesphere_test_gauge")
	code, _ = fetch(t, base+"/metrics", nil, auth)
	assert.Equal(t, http.StatusInternalServerError, code)
	assert.Equal(t, int32(1), host.reviews.Load(), "the token's review is cached")
	assert.Equal(t, int32(2), host.accessReviews.Load(), "a failed access review is not cached")
	code, _ = fetch(t, base+"/healthz", nil, nil)
	assert.Equal(t, http.StatusOK, code)
}

// TestCertDir: with --cert-dir the self-signed certificate is written there once and
// served again at the next start.
func TestCertDir(t *testing.T) {
	dir := t.TempDir()
	var served [][]byte
	for range 2 {
		base := startServing(t, &fakeHost{}, func(o *Options) {
			o.SecureServing.CertDirectory = dir
			o.Authentication.SkipInClusterLookup = true
		})
		conn, err := tls.Dial("tcp", strings.TrimPrefix(base, "https://"), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // read, not trusted
		require.NoError(t, err)
		served = append(served, conn.ConnectionState().PeerCertificates[0].Raw)
		require.NoError(t, conn.Close())
	}
	assert.FileExists(t, filepath.Join(dir, "controller-manager.crt"))
	assert.FileExists(t, filepath.Join(dir, "controller-manager.key"))
	assert.Equal(t, served[0], served[1], "the certificate of the first start is reused")
}

func TestValidateServingFlags(t *testing.T) {
	for _, c := range []struct {
		set  func(*Options)
		want string
	}{
		{func(o *Options) { o.SecureServing.CertFile = "tls.crt" }, "--tls-cert-file and --tls-private-key-file go together"},
		{func(o *Options) { o.SecureServing.CipherSuites = []string{"TLS_NOT_A_SUITE"} }, "--tls-cipher-suites"},
		{func(o *Options) { o.SecureServing.MinTLSVersion = "VersionTLS99" }, "--tls-min-version"},
		{func(o *Options) { o.Authentication.RequestHeader.UIDHeaders = []string{"X-Uid"} }, "X-Remote-Uid"},
		{func(o *Options) { o.Authentication.RequestHeader.UsernameHeaders = []string{" "} }, `empty value in "requestheader-username-headers"`},
		{func(o *Options) { o.Authorization.AlwaysAllowPaths = []string{"/a*b"} }, "--authorization-always-allow-paths"},
	} {
		o := NewOptions()
		c.set(o)
		assert.ErrorContains(t, o.Validate(), c.want)
	}
}

// TestHTTP2: HTTP/2 is offered unless --disable-http2-serving.
func TestHTTP2(t *testing.T) {
	for _, disable := range []bool{false, true} {
		base := startServing(t, &fakeHost{}, func(o *Options) {
			o.SecureServing.DisableHTTP2 = disable
			o.Authentication.SkipInClusterLookup = true
		})
		client := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true,
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}} //nolint:gosec // the server is this test's
		resp, err := client.Get(base + "/healthz")
		require.NoError(t, err)
		resp.Body.Close()
		want := 2
		if disable {
			want = 1
		}
		assert.Equal(t, want, resp.ProtoMajor, "--disable-http2-serving=%t", disable)
		client.CloseIdleConnections()
	}
}

// TestPortSharing: --permit-port-sharing lets two replicas listen on one port.
func TestPortSharing(t *testing.T) {
	srv := httptest.NewTLSServer(&fakeHost{})
	defer srv.Close()
	port := freeTestPort(t)
	config := func(share bool) (*Config, error) {
		o := NewOptions()
		o.Kubeconfig = hostKubeconfig(t, srv)
		o.Authentication.SkipInClusterLookup = true
		o.SecureServing.BindPort, o.SecureServing.PermitPortSharing = port, share
		return o.Config()
	}
	first, err := config(true)
	require.NoError(t, err)
	defer first.SecureServing.Listener.Close()
	second, err := config(true)
	require.NoError(t, err)
	require.NoError(t, second.SecureServing.Listener.Close())
	_, err = config(false)
	assert.ErrorContains(t, err, "address already in use")
}
