// Package framework holds the helpers that the test packages under test/ share, over the
// localenv.Env their TestMain (or the test itself) brought up. Each helper has one
// meaning; a helper that fails the test and one that returns the error have different
// names.
package framework

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/internal/localenv"
)

// KubectlTimeout bounds one run of kubectl by Kubectl or TryKubectl, so that a hang fails
// its test rather than the whole package at go test's timeout.
const KubectlTimeout = 2 * time.Minute

// Kubectl runs the pinned kubectl as the admin, on context kubeContext of env's admin
// kubeconfig ("" leaves it to args, or to the kubeconfig's current context, "host"), with
// stdin, and returns its standard output. The test fails when kubectl does.
func Kubectl(t testing.TB, env *localenv.Env, kubeContext, stdin string, args ...string) string {
	t.Helper()
	out, err := TryKubectl(t, env, kubeContext, stdin, args...)
	require.NoError(t, err)
	return out
}

// TryKubectl is Kubectl for a run that may fail: it returns kubectl's error (which holds
// its stderr) instead of failing the test, for tests that expect a refusal, poll, or clean
// up what may be gone.
func TryKubectl(t testing.TB, env *localenv.Env, kubeContext, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), KubectlTimeout)
	defer cancel()
	return env.Kubectl(ctx, kubeContext, stdin, args...)
}
