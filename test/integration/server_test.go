package integration

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/rest"

	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	"kubesphere.io/multicluster/generated/clientset/versioned"
	"kubesphere.io/multicluster/test/framework"
)

// direct is the host admin talking straight to a cluster-apiserver at url (no aggregator):
// the server trusts the host's client CA through delegated authentication.
func direct(t *testing.T, url string) (*rest.Config, versioned.Interface) {
	cfg := framework.AdminRESTConfig(t, env, url)
	cs, err := versioned.NewForConfig(cfg)
	require.NoError(t, err)
	return cfg, cs
}

// TestExternalEtcdHAWithEncryption runs two replicas on the shared (external) etcd with
// an encryption config: a write through one is read through the other, and etcd holds
// only ciphertext.
func TestExternalEtcdHAWithEncryption(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	encConfig := filepath.Join(t.TempDir(), "encryption.yaml")
	require.NoError(t, os.WriteFile(encConfig, []byte(fmt.Sprintf(`apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [clusters.clusters.kubesphere.io]
  providers:
  - secretbox:
      keys: [{name: key1, secret: %s}]
  - identity: {}
`, base64.StdEncoding.EncodeToString(key))), 0o600))

	prefix := "/ha-test"
	storage := []string{"--etcd-servers=" + env.EtcdURL(), "--etcd-prefix=" + prefix, "--encryption-provider-config=" + encConfig}
	var urls []string
	for _, name := range []string{"ha-a", "ha-b"} {
		url, err := env.StartExtraClusterAPIServer(ctx, name, framework.FreePort(t), storage...)
		require.NoError(t, err)
		t.Cleanup(func() { _ = env.Stop("host-" + name) })
		urls = append(urls, url)
	}
	_, a := direct(t, urls[0])
	_, b := direct(t, urls[1])

	_, err = a.ClustersV1alpha1().Clusters().Create(ctx, &v1alpha1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: "secret-place"},
		Spec: v1alpha1.ClusterSpec{Region: "hidden-region", Connection: v1alpha1.Connection{
			KubernetesAPIEndpoint: "https://127.0.0.1:7443",
			CredentialsSecretRef:  &v1alpha1.SecretReference{Namespace: "kubesphere-system", Name: "x"}}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	got, err := b.ClustersV1alpha1().Clusters().Get(ctx, "secret-place", metav1.GetOptions{})
	require.NoError(t, err, "the other replica reads what the first wrote")
	assert.Equal(t, "hidden-region", got.Spec.Region)

	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{env.EtcdURL()}, DialTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer etcd.Close()
	resp, err := etcd.Get(ctx, prefix+"/", clientv3.WithPrefix())
	require.NoError(t, err)
	var found bool
	for _, kv := range resp.Kvs {
		if strings.HasSuffix(string(kv.Key), "/secret-place") {
			found = true
			assert.True(t, strings.HasPrefix(string(kv.Value), "k8s:enc:secretbox:v1:key1:"), "stored value is encrypted: %.40q", kv.Value)
			assert.NotContains(t, string(kv.Value), "hidden-region")
		}
	}
	assert.True(t, found, "object stored under %s", prefix)
}

func TestHealthMetricsAndAudit(t *testing.T) {
	cfg, _ := direct(t, env.ClusterAPIServerURL())
	anonymous := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: mustTLS(t, rest.AnonymousClientConfig(cfg))}}
	for _, path := range []string{"/healthz", "/livez", "/readyz"} {
		resp, err := anonymous.Get(env.ClusterAPIServerURL() + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, body)
	}
	// /metrics needs authorization: anonymous is refused, the admin is served.
	resp, err := anonymous.Get(env.ClusterAPIServerURL() + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	admin, err := rest.HTTPClientFor(cfg)
	require.NoError(t, err)
	resp, err = admin.Get(env.ClusterAPIServerURL() + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), `apiserver_request_total{`)

	// The audit log records the real user of a request that came through the aggregator.
	framework.Kubectl(t, env, "host", framework.ClusterManifest(framework.Cluster{Name: "audited", Provider: "kwok", Endpoint: "https://127.0.0.1:6443", Secret: "audited-credentials"}), "create", "-f", "-")
	framework.Kubectl(t, env, "host", "", "delete", "cluster", "audited")
	require.Eventually(t, func() bool {
		data, _ := os.ReadFile(env.LogFile("host-cluster-apiserver-audit"))
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, `"verb":"create"`) && strings.Contains(line, `"name":"audited"`) &&
				strings.Contains(line, `"username":"kubernetes-admin"`) {
				return true
			}
		}
		return false
	}, 30*time.Second, 250*time.Millisecond, "audit event for the create by kubernetes-admin")
	// Every line is an audit.k8s.io/v1 Event (the log is written by pkg/auditlog's encoder).
	data, err := os.ReadFile(env.LogFile("host-cluster-apiserver-audit"))
	require.NoError(t, err)
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		var ev auditv1.Event
		require.NoError(t, json.Unmarshal([]byte(line), &ev), "audit log line %d: %s", i+1, line)
		require.Equal(t, "Event", ev.Kind, "audit log line %d", i+1)
		require.Equal(t, "audit.k8s.io/v1", ev.APIVersion, "audit log line %d", i+1)
		require.NotEmpty(t, ev.AuditID, "audit log line %d", i+1)
	}
}
