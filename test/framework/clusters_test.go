package framework

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The manifest is the JSON that test/security posts as is, and it leaves out what a
// test leaves empty.
func TestClusterManifest(t *testing.T) {
	assert.Equal(t, `{"apiVersion":"clusters.kubesphere.io/v1alpha1","kind":"Cluster","metadata":{"name":"borrow"},"spec":{"connection":{"type":"Direct","kubernetesAPIEndpoint":"https://127.0.0.1:1","credentialsSecretRef":{"namespace":"kubesphere-system","name":"member1-credentials"}}}}`,
		ClusterManifest(Cluster{Name: "borrow", Endpoint: "https://127.0.0.1:1", Secret: "member1-credentials"}))
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(ClusterManifest(Cluster{Name: "x", Provider: "kwok", Type: "Proxy", CABundle: "aGVsbG8=", Secret: "s", SecretNamespace: "kube-system"})), &got))
	assert.Equal(t, map[string]any{"provider": "kwok", "connection": map[string]any{"type": "Proxy", "caBundle": "aGVsbG8=",
		"credentialsSecretRef": map[string]any{"namespace": "kube-system", "name": "s"}}}, got["spec"])
}
