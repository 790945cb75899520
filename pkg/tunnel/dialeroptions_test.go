package tunnel

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
)

// A projected token file ends in a newline and rotates: the dialer reads it each time,
// trimmed, and prefers it to a token read once (in-cluster configs set both).
func TestDialerBearerFromTokenFile(t *testing.T) {
	f := newFixture(t)
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.http.Certificate().Raw}), 0o600))
	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte("first\n"), 0o600))
	o := &DialerOptions{Servers: []string{f.http.URL}, CAFile: caFile}
	d, err := o.Dialer(&rest.Config{BearerToken: "stale", BearerTokenFile: file})
	require.NoError(t, err)
	assert.Equal(t, "first", d.Bearer())
	require.NoError(t, os.WriteFile(file, []byte("rotated\r\n"), 0o600))
	assert.Equal(t, "rotated", d.Bearer())
	require.NoError(t, os.Remove(file))
	assert.Equal(t, "stale", d.Bearer(), "a missing file falls back to the token read once")

	d, err = o.Dialer(&rest.Config{BearerToken: " only\n"})
	require.NoError(t, err)
	assert.Equal(t, "only", d.Bearer())
}
