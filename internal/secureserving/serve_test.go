package secureserving

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// TestServe: over HTTPS with a self-signed certificate, /metrics only to a caller the host
// authenticates and authorizes, the health checks to anyone; the reviews go to the host
// kubeconfig given to Config (controller-manager's --kubeconfig) when no delegated
// kubeconfig is given.
func TestServe(t *testing.T) {
	host := &fakeHost{}
	srv := httptest.NewTLSServer(host)
	defer srv.Close()

	o := newTestOptions()
	kubeconfig := hostKubeconfig(t, srv)
	// The fake host has no configmap kube-system/extension-apiserver-authentication.
	o.Authentication.SkipInClusterLookup = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	o.Serving.Listener = l
	require.NoError(t, utilerrors.NewAggregate(o.Validate()))
	c, err := o.Config(kubeconfig)
	require.NoError(t, err)
	require.NotNil(t, c)

	registry := prometheus.NewRegistry()
	registry.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "kubesphere_test_gauge", Help: "A test gauge."}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, c.Serve(ctx, NewMux(registry)))

	base := "https://" + l.Addr().String()
	// The served certificate is the self-signed one made at start, for 127.0.0.1.
	generated, _ := o.Serving.GeneratedCert.CurrentCertKeyContent()
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
	assert.NotZero(t, host.reviews.Load(), "tokens were reviewed by the host of the kubeconfig given to Config")
}

// TestCertDir: with --cert-dir the self-signed certificate is written there once and
// served again at the next start.
func TestCertDir(t *testing.T) {
	dir := t.TempDir()
	var served [][]byte
	for range 2 {
		base := startServing(t, &fakeHost{}, func(o *Options) {
			o.Serving.CertDirectory = dir
			o.Authentication.SkipInClusterLookup = true
		})
		conn, err := tls.Dial("tcp", strings.TrimPrefix(base, "https://"), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // read, not trusted
		require.NoError(t, err)
		served = append(served, conn.ConnectionState().PeerCertificates[0].Raw)
		require.NoError(t, conn.Close())
	}
	assert.FileExists(t, filepath.Join(dir, testPairName+".crt"))
	assert.FileExists(t, filepath.Join(dir, testPairName+".key"))
	assert.Equal(t, served[0], served[1], "the certificate of the first start is reused")
}

// TestHTTP2: HTTP/2 is offered unless --disable-http2-serving.
func TestHTTP2(t *testing.T) {
	for _, disable := range []bool{false, true} {
		base := startServing(t, &fakeHost{}, func(o *Options) {
			o.Serving.DisableHTTP2 = disable
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
		o := newTestOptions()
		kubeconfig := hostKubeconfig(t, srv)
		o.Authentication.SkipInClusterLookup = true
		o.Serving.BindPort, o.Serving.PermitPortSharing = port, share
		return o.Config(kubeconfig)
	}
	first, err := config(true)
	require.NoError(t, err)
	defer first.Serving.Listener.Close()
	second, err := config(true)
	require.NoError(t, err)
	require.NoError(t, second.Serving.Listener.Close())
	_, err = config(false)
	assert.ErrorContains(t, err, "address already in use")
}
