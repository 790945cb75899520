package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
)

// fakeHost answers the TokenReviews and SubjectAccessReviews of the delegated
// authentication and authorization: the token "reader-token" is the user "reader", who
// may get /metrics and nothing else.
type fakeHost struct{ reviews, accessReviews atomic.Int32 }

func (f *fakeHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
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
		var sar authorizationv1.SubjectAccessReview
		_ = json.NewDecoder(r.Body).Decode(&sar)
		nr := sar.Spec.NonResourceAttributes
		sar.Status.Allowed = sar.Spec.User == "reader" && nr != nil && nr.Path == "/metrics" && nr.Verb == "get"
		sar.APIVersion, sar.Kind = "authorization.k8s.io/v1", "SubjectAccessReview"
		_ = json.NewEncoder(w).Encode(sar)
	default:
		http.NotFound(w, r)
	}
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
	generated, _ := o.SecureServing.ServerCert.GeneratedCert.CurrentCertKeyContent()
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
