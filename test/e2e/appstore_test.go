package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"kubesphere.io/multicluster/internal/localenv"
)

// testAppStoreRepos checks the App Store's sources of an environment started with
// AppStoreRepos, with the real helm CLI as the outside client: every chart of the tree is
// in the HTTPS repository and the registry, both trusted through the env CA alone; the
// registry and the private repository path refuse anonymous clients.
func testAppStoreRepos(t *testing.T, env *localenv.Env) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ca := env.AppStoreCAFile()
	user, pass, err := env.AppStoreCredentials()
	require.NoError(t, err)
	client := caOnlyClient(t, ca)
	helm := func(args ...string) (string, error) { return env.Helm(ctx, args...) }
	// pulled checks that dir holds hello 0.2.0 as helm pulled it.
	pulled := func(dir string) {
		t.Helper()
		out, err := helm("show", "chart", filepath.Join(dir, "hello-0.2.0.tgz"))
		require.NoError(t, err)
		assert.Contains(t, out, "version: 0.2.0")
	}

	// The index lists every chart of test/testdata/charts, absolute URLs on this port.
	body, code := get(t, client, env.ChartRepoURL()+"index.yaml", "", "")
	require.Equal(t, http.StatusOK, code, body)
	var index struct {
		Entries map[string][]struct {
			Version string   `json:"version"`
			URLs    []string `json:"urls"`
		} `json:"entries"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(body), &index))
	versions := map[string][]string{}
	for name, vs := range index.Entries {
		for _, v := range vs {
			versions[name] = append(versions[name], v.Version)
			assert.Equal(t, []string{env.ChartRepoURL() + name + "-" + v.Version + ".tgz"}, v.URLs)
		}
	}
	assert.Equal(t, map[string][]string{"hello": {"0.2.0", "0.1.0"}, "hello-fail": {"0.1.0"}, "clusterwide": {"0.1.0"}}, versions)

	t.Run("https repository", func(t *testing.T) {
		dir := t.TempDir()
		_, err := helm("pull", "hello", "--repo", env.ChartRepoURL(), "--version", "0.2.0", "--ca-file", ca, "--destination", dir)
		require.NoError(t, err)
		pulled(dir)
		// Trust comes from the env CA: without it the certificate is refused.
		_, err = helm("pull", "hello", "--repo", env.ChartRepoURL(), "--version", "0.2.0", "--destination", t.TempDir())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "certificate")
	})

	t.Run("private path wants basic auth", func(t *testing.T) {
		body, code := get(t, client, env.PrivateChartRepoURL()+"index.yaml", "", "")
		assert.Equal(t, http.StatusUnauthorized, code, body)
		_, code = get(t, client, env.PrivateChartRepoURL()+"index.yaml", user, "wrong")
		assert.Equal(t, http.StatusUnauthorized, code)
		body, code = get(t, client, env.PrivateChartRepoURL()+"index.yaml", user, pass)
		assert.Equal(t, http.StatusOK, code)
		assert.Contains(t, body, env.PrivateChartRepoURL()+"hello-0.2.0.tgz")
		dir := t.TempDir()
		_, err := helm("pull", "hello", "--repo", env.PrivateChartRepoURL(), "--version", "0.2.0", "--ca-file", ca,
			"--username", user, "--password", pass, "--destination", dir)
		require.NoError(t, err)
		pulled(dir)
	})

	t.Run("oci registry", func(t *testing.T) {
		// A registry config of the test's own: no login but the one made here.
		logins := filepath.Join(t.TempDir(), "config.json")
		_, err := helm("registry", "login", env.RegistryHost(), "--username", user, "--password", pass, "--ca-file", ca, "--registry-config", logins)
		require.NoError(t, err)
		dir := t.TempDir()
		_, err = helm("pull", env.RegistryURL()+"/hello", "--version", "0.2.0", "--ca-file", ca, "--registry-config", logins, "--destination", dir)
		require.NoError(t, err)
		pulled(dir)
	})

	t.Run("registry refuses anonymous clients", func(t *testing.T) {
		// An empty registry config file: no login.
		anonymous := filepath.Join(t.TempDir(), "config.json")
		require.NoError(t, os.WriteFile(anonymous, []byte("{}"), 0o600))
		_, err := helm("pull", env.RegistryURL()+"/hello", "--version", "0.2.0", "--ca-file", ca, "--registry-config", anonymous, "--destination", t.TempDir())
		require.Error(t, err)
		assert.Regexp(t, `(?i)401|unauthorized|basic credential not found`, err.Error())
		body, code := get(t, client, "https://"+env.RegistryHost()+"/v2/charts/hello/tags/list", "", "")
		assert.Equal(t, http.StatusUnauthorized, code, body)
		body, code = get(t, client, "https://"+env.RegistryHost()+"/v2/charts/hello/tags/list", user, pass)
		assert.Equal(t, http.StatusOK, code)
		assert.JSONEq(t, `{"name":"charts/hello","tags":["0.1.0","0.2.0"]}`, body)
	})

	t.Run("credentials secret", func(t *testing.T) {
		s, err := env.AppStoreOCISecret()
		require.NoError(t, err)
		assert.Equal(t, [2]string{localenv.Namespace, localenv.AppStoreOCISecretName}, [2]string{s.Namespace, s.Name})
		assert.Equal(t, map[string][]byte{"username": []byte(user), "password": []byte(pass)}, s.Data)
	})

	t.Run("restart keeps credentials and charts", func(t *testing.T) {
		before := [2]int{env.Pid(localenv.ChartRepoID), env.Pid(localenv.RegistryID)}
		start := time.Now()
		require.NoError(t, env.StartAppStoreRepos(ctx))
		t.Logf("app store repos restarted in %s", time.Since(start).Round(time.Millisecond))
		assert.NotEqual(t, before, [2]int{env.Pid(localenv.ChartRepoID), env.Pid(localenv.RegistryID)})
		u, p, err := env.AppStoreCredentials()
		require.NoError(t, err)
		assert.Equal(t, [2]string{user, pass}, [2]string{u, p})
		// The login made at start-up (in the env's HELM_REGISTRY_CONFIG) still works.
		dir := t.TempDir()
		_, err = helm("pull", env.RegistryURL()+"/hello", "--version", "0.2.0", "--ca-file", ca, "--destination", dir)
		require.NoError(t, err)
		pulled(dir)
	})
}

// caOnlyClient trusts the CA in caFile and nothing else.
func caOnlyClient(t *testing.T, caFile string) *http.Client {
	pem, err := os.ReadFile(caFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// get returns the body and status of a GET, with basic auth when user is set.
func get(t *testing.T, client *http.Client, url, user, pass string) (string, int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b), resp.StatusCode
}
