package appstore

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/test/framework"
)

// chartPath is the chart subresource of the ApplicationVersion named version.
func chartPath(version string) string {
	return "/apis/appstore.kubesphere.io/v1alpha1/applicationversions/" + version + "/chart"
}

// servedDigest is the digest the repository's own index.yaml (at repoURL) lists for
// chart's version, read with the environment's CA and, when given, its credentials.
func servedDigest(t *testing.T, repoURL, chart, version string, withCredentials bool) string {
	t.Helper()
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caBundle(t)))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, err := http.NewRequest(http.MethodGet, repoURL+"index.yaml", nil)
	require.NoError(t, err)
	if withCredentials {
		user, pass, err := env.AppStoreCredentials()
		require.NoError(t, err)
		req.SetBasicAuth(user, pass)
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var idx struct {
		Entries map[string][]struct{ Version, Digest string }
	}
	require.NoError(t, yaml.Unmarshal(body, &idx))
	for _, v := range idx.Entries[chart] {
		if v.Version == version {
			require.NotEmpty(t, v.Digest, "helm repo index lists digests")
			return v.Digest
		}
	}
	t.Fatalf("%sindex.yaml lists no %s %s", repoURL, chart, version)
	return ""
}

// tarNames lists the files of a gzipped tar.
func tarNames(t *testing.T, archive []byte) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		require.NoError(t, err)
		names = append(names, h.Name)
	}
}

// A version's chart is the archive the repository serves, verified against its index,
// from a public and from a private repository (whose credentials only cluster-apiserver
// holds); a user with the App Store user role may read it, one with no rights may not, and
// an unknown version is NotFound.
func TestChartSubresource(t *testing.T) {
	ctx := context.Background()
	user, pass, err := env.AppStoreCredentials()
	require.NoError(t, err)
	framework.Kubectl(t, env, "host", fmt.Sprintf(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"appstore-charts-private","namespace":%q},"stringData":{"username":%q,"password":%q}}`,
		localenv.Namespace, user, pass), "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "secret", "-n", localenv.Namespace, "appstore-charts-private", "--ignore-not-found")
	})
	ca := caBundle(t)
	repo(t, "charts", env.ChartRepoURL(), map[string]any{"caBundle": ca})
	repo(t, "charts-private", env.PrivateChartRepoURL(), map[string]any{"caBundle": ca,
		"credentialsSecretRef": map[string]any{"name": "appstore-charts-private"}})
	for _, name := range []string{"charts", "charts-private"} {
		_, c := syncedCondition(t, name)
		require.Equal(t, "True", string(c.Status), "%s: %s", name, c.Message)
	}

	for _, c := range []struct {
		repo, url string
		private   bool
	}{{"charts", env.ChartRepoURL(), false}, {"charts-private", env.PrivateChartRepoURL(), true}} {
		t.Run(c.repo, func(t *testing.T) {
			archive := framework.Kubectl(t, env, "host", "", "get", "--raw", chartPath(c.repo+".hello.0.1.0"))
			sum := sha256.Sum256([]byte(archive))
			assert.Equal(t, servedDigest(t, c.url, "hello", "0.1.0", c.private), hex.EncodeToString(sum[:]))
			assert.Contains(t, tarNames(t, []byte(archive)), "hello/Chart.yaml")
			// Twice: the second comes from the cache, the same bytes.
			assert.Equal(t, archive, framework.Kubectl(t, env, "host", "", "get", "--raw", chartPath(c.repo+".hello.0.1.0")))
		})
	}

	_, err = framework.TryKubectl(t, env, "host", "", "get", "--raw", chartPath("charts.hello.9.9.9"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NotFound")
	assert.Contains(t, err.Error(), `applicationversions.appstore.kubesphere.io "charts.hello.9.9.9" not found`)

	// A user with no rights on the host: the normal subresource check refuses.
	nobody := framework.UserKubeconfig(t, env, env.HostURL(), "chart-nobody")
	_, err = env.KubectlAs(ctx, nobody, "", "", "get", "--raw", chartPath("charts.hello.0.1.0"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Forbidden")
	assert.Contains(t, err.Error(), `cannot get resource "applicationversions/chart"`)

	// kubesphere:appstore-user grants it: who may install a version may read its chart.
	grant := `{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "appstore-test-chart-reader"},
  "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubesphere:appstore-user"},
  "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "chart-reader"}]}`
	framework.Kubectl(t, env, "host", grant, "apply", "-f", "-")
	t.Cleanup(func() { _, _ = framework.TryKubectl(t, env, "host", grant, "delete", "-f", "-") })
	reader := framework.UserKubeconfig(t, env, env.HostURL(), "chart-reader")
	var out string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) { // the host's RBAC sees the binding shortly
		if out, err = env.KubectlAs(ctx, reader, "", "", "get", "--raw", chartPath("charts.hello.0.2.0")); err == nil || time.Now().After(deadline) {
			break
		}
	}
	require.NoError(t, err, "the App Store user's chart read")
	assert.Contains(t, tarNames(t, []byte(out)), "hello/Chart.yaml")
}
