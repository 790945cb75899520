package localenv

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A restarted environment keeps its certificates, unless the identity they carry changed
// (an older environment's components had other user names).
func TestIssueKeepsOrRenews(t *testing.T) {
	dir := t.TempDir()
	c, err := loadOrCreateCA(dir, "test-ca")
	require.NoError(t, err)
	certFile, _, err := c.issue(dir, "client", "alice", []string{"devs"}, nil, false)
	require.NoError(t, err)
	first, err := os.ReadFile(certFile)
	require.NoError(t, err)

	_, _, err = c.issue(dir, "client", "alice", []string{"devs"}, nil, false)
	require.NoError(t, err)
	same, err := os.ReadFile(certFile)
	require.NoError(t, err)
	assert.Equal(t, first, same, "same identity: kept")

	_, _, err = c.issue(dir, "client", "bob", []string{"devs"}, nil, false)
	require.NoError(t, err)
	renamed, _, err := readPair(certFile, certFile[:len(certFile)-len(".crt")]+".key")
	require.NoError(t, err)
	assert.Equal(t, "bob", renamed.Subject.CommonName, "renamed identity: reissued")
}
