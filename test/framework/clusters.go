package framework

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/internal/localenv"
)

// Cluster holds what tests vary in the Cluster manifests they write; ClusterManifest
// writes it.
type Cluster struct {
	// Name is metadata.name.
	Name string
	// Provider is spec.provider, left out when empty.
	Provider string
	// Type is spec.connection.type, Direct when empty.
	Type string
	// Endpoint is spec.connection.kubernetesAPIEndpoint, left out when empty.
	Endpoint string
	// CABundle is spec.connection.caBundle as sent (base64), left out when empty.
	CABundle string
	// Secret names the credentials Secret of spec.connection.credentialsSecretRef, left out
	// when empty.
	Secret string
	// SecretNamespace is that Secret's namespace, localenv.Namespace when empty.
	SecretNamespace string
}

// ClusterManifest is c as a clusters.kubesphere.io/v1alpha1 Cluster in JSON: kubectl reads
// it as YAML, and a raw request sends it as application/json. Fields are written as given,
// invalid ones too: tests of validation send them.
func ClusterManifest(c Cluster) string {
	type secretRef struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	}
	type connection struct {
		Type     string     `json:"type"`
		Endpoint string     `json:"kubernetesAPIEndpoint,omitempty"`
		CABundle string     `json:"caBundle,omitempty"`
		Secret   *secretRef `json:"credentialsSecretRef,omitempty"`
	}
	type spec struct {
		Provider   string     `json:"provider,omitempty"`
		Connection connection `json:"connection"`
	}
	type metadata struct {
		Name string `json:"name"`
	}
	conn := connection{Type: c.Type, Endpoint: c.Endpoint, CABundle: c.CABundle}
	if conn.Type == "" {
		conn.Type = "Direct"
	}
	if c.Secret != "" {
		conn.Secret = &secretRef{Namespace: c.SecretNamespace, Name: c.Secret}
		if conn.Secret.Namespace == "" {
			conn.Secret.Namespace = localenv.Namespace
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // endpoints and bundles as written
	if err := enc.Encode(struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Metadata   metadata `json:"metadata"`
		Spec       spec     `json:"spec"`
	}{"clusters.kubesphere.io/v1alpha1", "Cluster", metadata{c.Name}, spec{c.Provider, conn}}); err != nil {
		panic(err) // strings only: cannot fail
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Condition reads condition condType of the Cluster cluster on the host: its status,
// reason and message, all empty while the Cluster has no such condition. The test fails
// when kubectl does.
func Condition(t testing.TB, env *localenv.Env, cluster, condType string) (status, reason, message string) {
	t.Helper()
	out := Kubectl(t, env, "host", "", "get", "cluster", cluster, "-o", fmt.Sprintf(
		`jsonpath={.status.conditions[?(@.type=="%[1]s")].status}|{.status.conditions[?(@.type=="%[1]s")].reason}|{.status.conditions[?(@.type=="%[1]s")].message}`, condType))
	parts := strings.SplitN(out, "|", 3)
	require.Len(t, parts, 3, out)
	return parts[0], parts[1], parts[2]
}
