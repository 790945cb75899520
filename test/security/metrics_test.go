package security

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/test/framework"
)

const (
	metricsClass = "controller-manager metrics"
	towerClass   = "tower proxy"
	// metricsProbeLine is in the leader's /metrics once it has probed member1: what an
	// intruder must not read.
	metricsProbeLine = `kubesphere_cluster_probe_duration_seconds_count{cluster="member1"`
	// metricsReaderUser and the ServiceAccount default/metricsReaderSA are bound by this
	// test to the manifests' kubesphere:metrics-reader.
	metricsReaderUser = "security-metrics-reader"
	metricsReaderSA   = "security-metrics-reader"
	// metricsNoRightsSA is a ServiceAccount bound to nothing.
	metricsNoRightsSA = "security-no-rights"
)

// metricsClientAs is a client with the client certificate of a host kubeconfig.
func metricsClientAs(t *testing.T, kubeconfig string) *http.Client {
	t.Helper()
	cfg := framework.RESTConfig(t, kubeconfig, "host")
	cfg.Timeout = 15 * time.Second
	c, err := rest.HTTPClientFor(cfg)
	require.NoError(t, err)
	return c
}

// metricsGet GETs url with client and extra headers; a transport error is returned as is.
func metricsGet(client *http.Client, url string, header map[string]string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body), nil
}

// refusedWith is nil when the answer is one of codes and shows no metric.
func refusedWith(code int, body string, err error, codes ...int) error {
	if err != nil {
		return fmt.Errorf("no answer (%v): expected %v", err, codes)
	}
	if strings.Contains(body, "kubesphere_") || strings.Contains(body, "# HELP") {
		return fmt.Errorf("%d with metrics:\n%.300s", code, body)
	}
	for _, c := range codes {
		if code == c {
			return nil
		}
	}
	return fmt.Errorf("%d, expected %v: %.300s", code, codes, body)
}

// bindMetricsReader binds metricsReaderUser and the ServiceAccount default/metricsReaderSA
// to kubesphere:metrics-reader (as an install binds Prometheus) and returns a client with
// the user's certificate and a token of the ServiceAccount, once the host says they may.
func bindMetricsReader(t *testing.T) (*http.Client, string) {
	t.Helper()
	ctx := testContext(t)
	objects := `apiVersion: v1
kind: ServiceAccount
metadata: {name: ` + metricsReaderSA + `, namespace: default}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: ` + metricsNoRightsSA + `, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: security-test:metrics-reader
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kubesphere:metrics-reader}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: ` + metricsReaderUser + `}
- {kind: ServiceAccount, name: ` + metricsReaderSA + `, namespace: default}
`
	_, err := env.Kubectl(ctx, "host", objects, "apply", "-f", "-")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = env.Kubectl(testContext(t), "host", objects, "delete", "-f", "-", "--ignore-not-found")
	})
	// controller-manager caches a denial for 10 s: ask only once the host's RBAC has it.
	for _, as := range []string{metricsReaderUser, "system:serviceaccount:default:" + metricsReaderSA} {
		require.Eventually(t, func() bool {
			out, _ := env.Kubectl(ctx, "host", "", "auth", "can-i", "get", "/metrics", "--as="+as)
			return strings.TrimSpace(out) == "yes"
		}, 30*time.Second, 200*time.Millisecond, as)
	}
	kubeconfig, err := env.IssueClientCert("host", metricsReaderUser)
	require.NoError(t, err)
	return metricsClientAs(t, kubeconfig), metricsToken(t, metricsReaderSA)
}

// metricsToken is a host token of the ServiceAccount default/sa.
func metricsToken(t *testing.T, sa string) string {
	t.Helper()
	token, err := env.Kubectl(testContext(t), "host", "", "create", "token", sa, "-n", "default")
	require.NoError(t, err)
	return strings.TrimSpace(token)
}

// TestMetricsControllerManager: every controller-manager replica serves /metrics over
// HTTPS to callers the host authenticates and authorizes for get /metrics only, and
// /healthz to anyone.
func TestMetricsControllerManager(t *testing.T) {
	ids := env.ControllerManagers()
	require.NotEmpty(t, ids, "the environment runs controller-manager")
	anonymous := client(t, nil, "")
	reader, readerToken := bindMetricsReader(t)
	admin := metricsClientAs(t, env.Kubeconfig())
	noRightsToken := metricsToken(t, metricsNoRightsSA)
	nobodyConfig, err := env.IssueClientCert("host", "nobody")
	require.NoError(t, err)
	nobody := metricsClientAs(t, nobodyConfig)
	plain := &http.Client{Timeout: 15 * time.Second}

	sawProbes := false
	for _, id := range ids {
		base := env.ControllerManagerURL(id)
		u, err := url.Parse(base)
		require.NoError(t, err)
		require.Equal(t, "https", u.Scheme, id)

		// What must work, first: a refusal from a server that serves no one proves nothing.
		code, body, err := metricsGet(anonymous, base+"/healthz", nil)
		require.NoError(t, err, id)
		require.Equal(t, http.StatusOK, code, "%s: /healthz without credentials (the kubelet's probe): %s", id, body)
		for name, c := range map[string]*http.Client{"a user bound to kubesphere:metrics-reader": reader, "the host admin": admin} {
			code, body, err := metricsGet(c, base+"/metrics", nil)
			require.NoError(t, err, id)
			require.Equal(t, http.StatusOK, code, "%s: /metrics as %s: %s", id, name, body)
			sawProbes = sawProbes || strings.Contains(body, metricsProbeLine)
		}
		// As Prometheus scrapes in a pod: its ServiceAccount's token, reviewed by the host.
		code, body, err = metricsGet(anonymous, base+"/metrics", map[string]string{"Authorization": "Bearer " + readerToken})
		require.NoError(t, err, id)
		require.Equal(t, http.StatusOK, code, "%s: /metrics with the token of a ServiceAccount bound to kubesphere:metrics-reader: %s", id, body)

		probe(t, metricsClass, id+": plain HTTP to the secure port", func() error {
			code, body, err := metricsGet(plain, "http://"+u.Host+"/metrics", nil)
			if err != nil {
				return nil // the connection was dropped: nothing served
			}
			return refusedWith(code, body, nil, http.StatusBadRequest)
		})
		probe(t, metricsClass, id+": anonymous /metrics", func() error {
			code, body, err := metricsGet(anonymous, base+"/metrics", nil)
			return refusedWith(code, body, err, http.StatusUnauthorized, http.StatusForbidden)
		})
		probe(t, metricsClass, id+": a token that means nothing", func() error {
			code, body, err := metricsGet(anonymous, base+"/metrics", map[string]string{"Authorization": "Bearer not-a-token-of-this-host"})
			return refusedWith(code, body, err, http.StatusUnauthorized)
		})
		probe(t, metricsClass, id+": a valid host token with no rights", func() error {
			code, body, err := metricsGet(anonymous, base+"/metrics", map[string]string{"Authorization": "Bearer " + noRightsToken})
			return refusedWith(code, body, err, http.StatusForbidden)
		})
		probe(t, metricsClass, id+": a host user with no rights", func() error {
			code, body, err := metricsGet(nobody, base+"/metrics", nil)
			return refusedWith(code, body, err, http.StatusForbidden)
		})
		// Request headers count only from the front proxy's certificate, and this server
		// impersonates no one.
		probe(t, metricsClass, id+": anonymous, claiming to be the admin in front-proxy headers", func() error {
			code, body, err := metricsGet(anonymous, base+"/metrics", map[string]string{"X-Remote-User": "kubernetes-admin", "X-Remote-Group": "system:masters"})
			return refusedWith(code, body, err, http.StatusUnauthorized, http.StatusForbidden)
		})
		probe(t, metricsClass, id+": a host user with no rights, with front-proxy and impersonation headers", func() error {
			code, body, err := metricsGet(nobody, base+"/metrics", map[string]string{
				"X-Remote-User": "kubernetes-admin", "X-Remote-Group": "system:masters",
				"Impersonate-User": "kubernetes-admin", "Impersonate-Group": "system:masters"})
			return refusedWith(code, body, err, http.StatusForbidden)
		})
		probe(t, metricsClass, id+": the metrics reader on another path", func() error {
			code, body, err := metricsGet(reader, base+"/debug/pprof/", nil)
			return refusedWith(code, body, err, http.StatusForbidden)
		})
	}
	// A standby's /metrics is empty until it leads; the leader's has the probes.
	require.True(t, sawProbes, "no replica's /metrics had %s", metricsProbeLine)
}

// towerConnect sends CONNECT target to the tower proxy at base with cert and token (when
// set) and returns the answer's status code.
func towerConnect(t *testing.T, base, target string, cert *tls.Certificate, token string) (int, error) {
	u, err := url.Parse(base)
	if err != nil {
		return 0, err
	}
	cfg := &tls.Config{RootCAs: caPool(t), NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", u.Host, cfg)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	req := "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n"
	if token != "" {
		req += "Authorization: Bearer " + token + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodConnect})
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestTowerProxyUnauthenticated: a tower proxy serves no metrics and opens no stream to a
// caller without a permitted host identity, to member1 (Direct) or member2 (whose agent's
// tunnel is up).
func TestTowerProxyUnauthenticated(t *testing.T) {
	anonymous := client(t, nil, "")
	nobodyConfig, err := env.IssueClientCert("host", "nobody")
	require.NoError(t, err)
	nobody := framework.ClientCertificate(t, nobodyConfig)
	dialerConfig, err := env.IssueClientCert("host", localenv.ControllerManagerUser)
	require.NoError(t, err)
	dialer := framework.ClientCertificate(t, dialerConfig)

	for i, base := range env.TowerProxyURLs() {
		id := localenv.TowerProxyID(i)
		// What must work, first: the proxy answers, and opens a stream for a host component.
		code, body, err := metricsGet(anonymous, base+"/healthz", nil)
		require.NoError(t, err, id)
		require.Equal(t, http.StatusOK, code, "%s /healthz: %s", id, body)
		require.Eventually(t, func() bool {
			code, err := towerConnect(t, base, "member2:443", &dialer, "")
			return err == nil && code == http.StatusOK
		}, 30*time.Second, 500*time.Millisecond, "%s: controller-manager's identity opens a stream to member2", id)

		probe(t, towerClass, id+": anonymous /metrics", func() error {
			code, body, err := metricsGet(anonymous, base+"/metrics", nil)
			return refusedWith(code, body, err, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound)
		})
		probe(t, towerClass, id+": a token that means nothing, /metrics", func() error {
			code, body, err := metricsGet(anonymous, base+"/metrics", map[string]string{"Authorization": "Bearer not-a-token-of-this-host"})
			return refusedWith(code, body, err, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound)
		})
		for _, target := range []string{"member1:443", "member2:443"} {
			for _, c := range []struct {
				name  string
				cert  *tls.Certificate
				token string
				want  int
			}{
				{"anonymous", nil, "", http.StatusUnauthorized},
				{"a token that means nothing", nil, "not-a-token-of-this-host", http.StatusUnauthorized},
				{"a host user with no rights", &nobody, "", http.StatusForbidden},
			} {
				probe(t, towerClass, fmt.Sprintf("%s: CONNECT %s, %s", id, target, c.name), func() error {
					code, err := towerConnect(t, base, target, c.cert, c.token)
					if err != nil {
						return fmt.Errorf("no answer (%v): expected %d", err, c.want)
					}
					if code != c.want {
						return fmt.Errorf("%d, expected %d", code, c.want)
					}
					return nil
				})
			}
		}
	}
}
