package security

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/test/framework"
)

// caPool trusts the host CA, which signs the host's and cluster-apiserver's serving
// certificates and the tower proxies'.
func caPool(t *testing.T) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(env.CAFile("host"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	return pool
}

// client is an HTTP client that trusts the host CA, presents cert (if any), adds token
// (if any) as a bearer token and nothing else, and never follows a redirect.
func client(t *testing.T, cert *tls.Certificate, token string) *http.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: caPool(t), MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	var rt http.RoundTripper = &http.Transport{TLSClientConfig: cfg, Proxy: nil, ForceAttemptHTTP2: true}
	if token != "" {
		rt = bearer{rt, token}
	}
	return &http.Client{Transport: rt, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type bearer struct {
	base  http.RoundTripper
	token string
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(req)
}

// userCert is a host client certificate of user in groups: an identity with no right but
// those the test grants it.
func userCert(t *testing.T, user string, groups ...string) *tls.Certificate {
	t.Helper()
	kc, err := env.IssueClientCert("host", user, groups...)
	require.NoError(t, err)
	cert := framework.ClientCertificate(t, kc)
	return &cert
}

// do sends one request with a raw URL (dot segments and encodings as written) and
// returns the status code and body.
func do(t *testing.T, c *http.Client, method, rawURL, body string, header http.Header) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, r)
	require.NoError(t, err, rawURL)
	for k, v := range header {
		req.Header[k] = v
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/merge-patch+json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// refused is nil when code is not a success; otherwise it says what got through. No
// answer at all (code 0) proves nothing and counts against.
func refused(code int, body string) error {
	if code == 0 {
		return fmt.Errorf("no answer: %s", body)
	}
	if code >= 200 && code < 300 || code == http.StatusSwitchingProtocols {
		if len(body) > 300 {
			body = body[:300] + "..."
		}
		return fmt.Errorf("answered %d: %s", code, body)
	}
	return nil
}

// memberUID is the pinned identity of a Cluster (its member's kube-system UID).
func memberUID(t *testing.T, cluster string) string {
	t.Helper()
	uid := framework.Kubectl(t, env, "host", "", "get", "cluster", cluster, "-o", "jsonpath={.status.uid}")
	require.NotEmpty(t, uid, cluster)
	return uid
}

const clustersAPI = "/apis/clusters.kubesphere.io/v1alpha1/clusters"

// denied is nil when code is exactly 401 or 403: the request was judged and refused.
func denied(code int, body string) error {
	if code == http.StatusUnauthorized || code == http.StatusForbidden {
		return nil
	}
	if len(body) > 300 {
		body = body[:300] + "..."
	}
	return fmt.Errorf("answered %d, not 401 or 403: %s", code, body)
}
