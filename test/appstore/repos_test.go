package appstore

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/test/framework"
)

// repo applies a Repo of the local chart repository (path below it) with spec fields
// extra, and deletes it when the test ends.
func repo(t *testing.T, name, url string, extra map[string]any) {
	t.Helper()
	spec := map[string]any{"url": url}
	for k, v := range extra {
		spec[k] = v
	}
	obj, err := json.Marshal(map[string]any{"apiVersion": "appstore.kubesphere.io/v1alpha1", "kind": "Repo",
		"metadata": map[string]any{"name": name}, "spec": spec})
	require.NoError(t, err)
	framework.Kubectl(t, env, "host", string(obj), "apply", "-f", "-")
	t.Cleanup(func() { _, _ = framework.TryKubectl(t, env, "host", "", "delete", "repo", name, "--ignore-not-found") })
}

// syncedCondition waits until the Repo's Synced condition has been written for its current
// generation, and returns the Repo.
func syncedCondition(t *testing.T, name string) (v1alpha1.Repo, metav1.Condition) {
	t.Helper()
	var r v1alpha1.Repo
	deadline := time.Now().Add(time.Minute)
	for {
		out := framework.Kubectl(t, env, "host", "", "get", "repo", name, "-o", "json")
		require.NoError(t, json.Unmarshal([]byte(out), &r))
		if c := meta.FindStatusCondition(r.Status.Conditions, "Synced"); c != nil && c.ObservedGeneration == r.Generation {
			return r, *c
		}
		if time.Now().After(deadline) {
			t.Fatalf("Repo %s: no Synced condition for generation %d within a minute: %+v", name, r.Generation, r.Status)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func caBundle(t *testing.T) []byte {
	ca, err := os.ReadFile(env.AppStoreCAFile())
	require.NoError(t, err)
	return ca
}

// A Repo of the HTTPS chart repository syncs: its charts and versions are counted, and
// kubectl shows them.
func TestRepoSyncs(t *testing.T) {
	repo(t, "local", env.ChartRepoURL(), map[string]any{"caBundle": caBundle(t)})
	r, c := syncedCondition(t, "local")
	assert.Equal(t, metav1.ConditionTrue, c.Status, c.Message)
	assert.Equal(t, "Synced", c.Reason)
	assert.EqualValues(t, 3, r.Status.ChartCount, "hello, hello-fail, clusterwide")
	assert.EqualValues(t, 4, r.Status.VersionCount, "hello twice")
	assert.True(t, strings.HasPrefix(r.Status.IndexDigest, "sha256:"), r.Status.IndexDigest)
	require.NotNil(t, r.Status.LastSyncTime)
	table := framework.Kubectl(t, env, "host", "", "get", "repo", "local")
	assert.Regexp(t, `local\s+Index\s+True\s+3\s+4\s+`, table)

	// A sync asked for now: a new value of the annotation reads the source again at once
	// (status times have seconds: wait for the next one first).
	time.Sleep(1100 * time.Millisecond)
	framework.Kubectl(t, env, "host", "", "annotate", "repo", "local", "appstore.kubesphere.io/sync=1", "--overwrite")
	require.Eventually(t, func() bool {
		var again v1alpha1.Repo
		require.NoError(t, json.Unmarshal([]byte(framework.Kubectl(t, env, "host", "", "get", "repo", "local", "-o", "json")), &again))
		return again.Status.LastSyncTime != nil && again.Status.LastSyncTime.After(r.Status.LastSyncTime.Time) &&
			again.Status.IndexDigest == r.Status.IndexDigest
	}, 20*time.Second, 200*time.Millisecond, "the annotation asks for a sync (its interval is an hour)")
}

// What goes wrong with a repository is a condition whose reason says what to fix, and a
// fixed Repo syncs.
func TestRepoBadInputs(t *testing.T) {
	user, pass, err := env.AppStoreCredentials()
	require.NoError(t, err)
	framework.Kubectl(t, env, "host", fmt.Sprintf(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"appstore-private","namespace":%q},"stringData":{"username":%q,"password":%q}}`,
		localenv.Namespace, user, pass), "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "secret", "-n", localenv.Namespace, "appstore-private", "--ignore-not-found")
	})
	ca := caBundle(t)
	for name, c := range map[string]struct {
		url    string
		extra  map[string]any
		reason string
	}{
		"no-creds":  {env.PrivateChartRepoURL(), map[string]any{"caBundle": ca}, "Unauthorized"},
		"no-ca":     {env.ChartRepoURL(), nil, "TLSError"},
		"no-server": {"https://127.0.0.1:1/", map[string]any{"caBundle": ca}, "Unreachable"},
		"no-index":  {env.ChartRepoURL() + "nothing/", map[string]any{"caBundle": ca}, "NotFound"},
		"too-large": {env.ChartRepoURL(), map[string]any{"caBundle": ca, "maxIndexSize": "100"}, "IndexTooLarge"},
		"private":   {env.PrivateChartRepoURL(), map[string]any{"caBundle": ca, "credentialsSecretRef": map[string]any{"name": "appstore-private"}}, "Synced"},
	} {
		t.Run(name, func(t *testing.T) {
			repo(t, name, c.url, c.extra)
			_, cond := syncedCondition(t, name)
			assert.Equal(t, c.reason, cond.Reason, cond.Message)
			assert.NotEmpty(t, cond.Message)
		})
	}
}
