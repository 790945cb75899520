package validation

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubesphere.io/multicluster/apis/clusters"
)

func testCA(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func direct(name string) *clusters.Cluster {
	return &clusters.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: clusters.ClusterSpec{Connection: clusters.Connection{
			Type:                  clusters.ConnectionDirect,
			KubernetesAPIEndpoint: "https://127.0.0.1:6443",
			CredentialsSecretRef:  &clusters.SecretReference{Namespace: "kubesphere-system", Name: "member1-credentials"},
		}},
	}
}

func TestValidateCluster(t *testing.T) {
	ca := testCA(t)
	cases := []struct {
		name   string
		mutate func(c *clusters.Cluster)
		// wantErrs are "field: message fragment" pairs; empty means valid.
		wantErrs []string
	}{
		{name: "valid direct", mutate: func(c *clusters.Cluster) {}},
		{name: "valid direct with CA", mutate: func(c *clusters.Cluster) { c.Spec.Connection.CABundle = ca }},
		{name: "valid agent without endpoint", mutate: func(c *clusters.Cluster) {
			c.Spec.Connection = clusters.Connection{Type: clusters.ConnectionAgent}
		}},
		{name: "name with dot", mutate: func(c *clusters.Cluster) { c.Name = "member.one" },
			wantErrs: []string{`metadata.name: Invalid value: "member.one": must not contain dots`}},
		{name: "name upper case", mutate: func(c *clusters.Cluster) { c.Name = "Member1" },
			wantErrs: []string{`metadata.name: Invalid value: "Member1": a lowercase RFC 1123 label`}},
		{name: "name too long", mutate: func(c *clusters.Cluster) { c.Name = strings.Repeat("a", 64) },
			wantErrs: []string{"must be no more than 63 characters"}},
		{name: "unknown type", mutate: func(c *clusters.Cluster) { c.Spec.Connection.Type = "Proxy" },
			wantErrs: []string{`spec.connection.type: Unsupported value: "Proxy": supported values: "Direct", "Agent"`}},
		{name: "direct without endpoint", mutate: func(c *clusters.Cluster) { c.Spec.Connection.KubernetesAPIEndpoint = "" },
			wantErrs: []string{"spec.connection.kubernetesAPIEndpoint: Required value: a Direct cluster needs the https URL"}},
		{name: "direct without credentials", mutate: func(c *clusters.Cluster) { c.Spec.Connection.CredentialsSecretRef = nil },
			wantErrs: []string{"spec.connection.credentialsSecretRef: Required value: a Direct cluster needs a Secret"}},
		{name: "http endpoint", mutate: func(c *clusters.Cluster) { c.Spec.Connection.KubernetesAPIEndpoint = "http://127.0.0.1:6443" },
			wantErrs: []string{"spec.connection.kubernetesAPIEndpoint: Invalid value: \"http://127.0.0.1:6443\": must be an https URL"}},
		{name: "endpoint without host", mutate: func(c *clusters.Cluster) { c.Spec.Connection.KubernetesAPIEndpoint = "https://" },
			wantErrs: []string{"spec.connection.kubernetesAPIEndpoint: Invalid value: \"https://\": must name a host"}},
		{name: "endpoint with password", mutate: func(c *clusters.Cluster) {
			c.Spec.Connection.KubernetesAPIEndpoint = "https://admin:secret@127.0.0.1:6443"
		}, wantErrs: []string{`spec.connection.kubernetesAPIEndpoint: Invalid value: "<omitted>": must not contain user information`}},
		{name: "endpoint with query", mutate: func(c *clusters.Cluster) {
			c.Spec.Connection.KubernetesAPIEndpoint = "https://127.0.0.1:6443?x=1"
		}, wantErrs: []string{"spec.connection.kubernetesAPIEndpoint: Invalid value: \"https://127.0.0.1:6443?x=1\": must not contain a query"}},
		{name: "caBundle not PEM", mutate: func(c *clusters.Cluster) { c.Spec.Connection.CABundle = []byte("hello") },
			wantErrs: []string{"spec.connection.caBundle: Invalid value: \"<omitted>\": must be PEM-encoded certificates"}},
		{name: "caBundle with a key", mutate: func(c *clusters.Cluster) {
			c.Spec.Connection.CABundle = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})
		}, wantErrs: []string{`spec.connection.caBundle: Invalid value: "<omitted>": must hold only PEM CERTIFICATE blocks, found "PRIVATE KEY"`}},
		{name: "caBundle garbage certificate", mutate: func(c *clusters.Cluster) {
			c.Spec.Connection.CABundle = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}})
		}, wantErrs: []string{"spec.connection.caBundle: Invalid value: \"<omitted>\": certificate 1 does not parse"}},
		{name: "agent with credentials", mutate: func(c *clusters.Cluster) { c.Spec.Connection.Type = clusters.ConnectionAgent },
			wantErrs: []string{"spec.connection.credentialsSecretRef: Forbidden: an Agent cluster keeps its credentials on the member"}},
		{name: "secret ref incomplete", mutate: func(c *clusters.Cluster) {
			c.Spec.Connection.CredentialsSecretRef = &clusters.SecretReference{Name: "Bad_Name"}
		}, wantErrs: []string{
			"spec.connection.credentialsSecretRef.namespace: Required value",
			"spec.connection.credentialsSecretRef.name: Invalid value: \"Bad_Name\"",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := direct("member1")
			tc.mutate(c)
			errs := ValidateCluster(c)
			require.Len(t, errs, len(tc.wantErrs), "errors: %v", errs)
			for i, want := range tc.wantErrs {
				assert.Contains(t, errs[i].Error(), want)
			}
		})
	}
}

func TestValidateClusterUpdateKeepsName(t *testing.T) {
	old := direct("member1")
	old.ResourceVersion = "1"
	renamed := old.DeepCopy()
	renamed.Name = "member2"
	errs := ValidateClusterUpdate(renamed, old)
	require.NotEmpty(t, errs)
	assert.Contains(t, errs.ToAggregate().Error(), "metadata.name: Invalid value: \"member2\": field is immutable")
}

func TestValidateClusterStatusUpdate(t *testing.T) {
	old := direct("member1")
	old.ResourceVersion = "1"
	c := old.DeepCopy()
	c.Status.NodeCount = -1
	c.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: "Maybe", Reason: "Probe", LastTransitionTime: metav1.Now()}}
	msg := ValidateClusterStatusUpdate(c, old).ToAggregate().Error()
	assert.Contains(t, msg, "status.nodeCount: Invalid value: -1: must be greater than or equal to 0")
	assert.Contains(t, msg, `status.conditions[0].status: Unsupported value: "Maybe"`)

	c.Status.NodeCount = 2
	c.Status.Conditions[0].Status = metav1.ConditionTrue
	assert.Empty(t, ValidateClusterStatusUpdate(c, old))
}

// The pinned identity is set once, or cleared; never swapped in one write.
func TestPinnedIdentity(t *testing.T) {
	old := direct("member1")
	old.ResourceVersion = "1"
	pinned := old.DeepCopy()
	pinned.Status.UID = "uid-a"
	assert.Empty(t, ValidateClusterStatusUpdate(pinned, old), "the first verification pins")
	swapped := pinned.DeepCopy()
	swapped.Status.UID = "uid-b"
	msg := ValidateClusterStatusUpdate(swapped, pinned).ToAggregate().Error()
	assert.Contains(t, msg, "status.uid: Forbidden: the pinned identity uid-a cannot be replaced by uid-b")
	cleared := pinned.DeepCopy()
	cleared.Status.UID = ""
	assert.Empty(t, ValidateClusterStatusUpdate(cleared, pinned), "clearing re-points on purpose")
}
