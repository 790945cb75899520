package appinstall

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/test/framework"
)

// A rollback to an earlier generation makes a new revision of that generation's chart on
// every cluster, and holds until version or values change; a cluster that leaves the
// placement is uninstalled from and shown so.
func TestRollbackAndPlacement(t *testing.T) {
	ctx := context.Background()
	indexRepo(t, "lifecycle")
	dev := asDeveloper(t)
	require.NoError(t, env.GrantDeveloper(ctx, "member2"))
	asDev := func(stdin string, args ...string) (string, error) { return env.KubectlAs(ctx, dev, "", stdin, args...) }
	_, err := asDev(release("web", "lifecycle.hello", "0.1.0", "default", nil, members...), "create", "-f", "-")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "applicationrelease", "web", "--ignore-not-found")
	})
	waitRelease(t, "web", 3*time.Minute, deployed)
	_, err = asDev("", "patch", "applicationrelease", "web", "--type=merge", "-p", `{"spec":{"version":"0.2.0"}}`)
	require.NoError(t, err)
	waitRelease(t, "web", 3*time.Minute, func(r v1alpha1.ApplicationRelease, found bool) bool { return r.Generation == 2 && deployed(r, found) })

	_, err = asDev("", "patch", "applicationrelease", "web", "--type=merge", "-p", `{"spec":{"rollback":{"toGeneration":1}}}`)
	require.NoError(t, err)
	r := waitRelease(t, "web", 3*time.Minute, func(r v1alpha1.ApplicationRelease, found bool) bool { return r.Generation == 3 && deployed(r, found) })
	assert.Equal(t, v1alpha1.RequestActionRollback, r.Status.Requests[len(r.Status.Requests)-1].Action)
	for _, m := range members {
		e := entry(t, r, m)
		assert.EqualValues(t, 3, e.Revision, m)
		assert.Equal(t, "0.1.0", e.ChartVersion, "%s: generation 1's chart", m)
		require.Len(t, e.Revisions, 3, m)
		assert.Equal(t, v1alpha1.RevisionActionRollback, e.Revisions[2].Action, m)
		history := helmJSON(t, m, "history", "web", "-n", "default")
		require.Len(t, history, 3, m)
		assert.Equal(t, "appstore: rollback by developer (generation 3)", history[2].Description, m)
		assert.Equal(t, "hello-0.1.0", history[2].Chart, m)
	}

	// member2 leaves the placement: uninstalled there (removalPolicy Uninstall), kept in
	// status as Uninstalled; member1 goes on.
	_, err = asDev("", "patch", "applicationrelease", "web", "--type=merge", "-p", `{"spec":{"placement":{"clusters":["member1"]}}}`)
	require.NoError(t, err)
	r = waitRelease(t, "web", 3*time.Minute, func(r v1alpha1.ApplicationRelease, found bool) bool {
		return r.Generation == 4 && deployed(r, found)
	})
	assert.Equal(t, v1alpha1.ReleasePhaseUninstalled, entry(t, r, "member2").Phase)
	assert.Empty(t, helmJSON(t, "member2", "list", "-n", "default"), "member2: helm list")
	assert.Equal(t, v1alpha1.ReleasePhaseDeployed, entry(t, r, "member1").Phase)
	assert.Equal(t, "0.1.0", entry(t, r, "member1").ChartVersion, "the rollback holds through an edit of the placement")
}

// With member2's agent down, a release on both members deploys on member1 and reports
// member2 Unreachable with a retry time; when the agent is back, member2 catches up with
// no change to the release.
func TestOneClusterDown(t *testing.T) {
	ctx := context.Background()
	indexRepo(t, "down")
	dev := asDeveloper(t)
	require.NoError(t, env.GrantDeveloper(ctx, "member2"))
	require.NoError(t, env.Stop(localenv.AgentID("member2")))
	t.Cleanup(func() { _ = env.StartAgent("member2") })
	_, err := env.KubectlAs(ctx, dev, "", release("down", "down.hello", "0.1.0", "default", nil, members...), "create", "-f", "-")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "applicationrelease", "down", "--ignore-not-found")
	})
	r := waitRelease(t, "down", 2*time.Minute, func(r v1alpha1.ApplicationRelease, _ bool) bool {
		return len(r.Status.Clusters) == 2 && entry(t, r, "member2").Phase == v1alpha1.ReleasePhaseUnreachable &&
			entry(t, r, "member1").Phase == v1alpha1.ReleasePhaseDeployed
	})
	e := entry(t, r, "member2")
	assert.Equal(t, "Unreachable", e.Reason)
	assert.Contains(t, e.Message, "member2")
	require.NotNil(t, e.NextAttemptTime)

	require.NoError(t, env.StartAgent("member2"))
	r = waitRelease(t, "down", 3*time.Minute, deployed)
	assert.EqualValues(t, 1, r.Generation, "caught up with no change to the release")
	assert.EqualValues(t, 1, entry(t, r, "member2").Revision)
}
