package framework

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/internal/localenv"
)

// CopySecret copies the credentials Secret from into a new Secret to with
// env.CopySecret (one Secret backs at most one Cluster, so a test Cluster that reaches a
// member with its credentials needs its own copy), deletes the copy when the test ends,
// and returns its name.
func CopySecret(t testing.TB, env *localenv.Env, from, to string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), KubectlTimeout)
	defer cancel()
	require.NoError(t, env.CopySecret(ctx, from, to))
	t.Cleanup(func() { Kubectl(t, env, "host", "", "delete", "secret", "-n", localenv.Namespace, to) })
	return to
}

// AgentToken is member's join token, as its tower agent reads it from
// env.AgentTokenFile.
func AgentToken(t testing.TB, env *localenv.Env, member string) string {
	t.Helper()
	b, err := os.ReadFile(env.AgentTokenFile(member))
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}
