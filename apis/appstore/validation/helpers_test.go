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
	"k8s.io/apimachinery/pkg/util/validation/field"
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

// assertErrors checks errs against want, in order. Each want is "<field path>: <fragment>":
// the error must be at exactly that path and its text must contain the fragment.
func assertErrors(t *testing.T, errs field.ErrorList, want []string) {
	t.Helper()
	require.Len(t, errs, len(want), "errors: %v", errs)
	for i, w := range want {
		path, frag, _ := strings.Cut(w, ": ")
		assert.Equal(t, path, errs[i].Field, "error %d: %v", i, errs[i])
		assert.Contains(t, errs[i].Error(), frag, "error %d", i)
	}
}
