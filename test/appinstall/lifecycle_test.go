package appinstall

import (
	"context"
	"fmt"
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

// A release the member refuses fails with the member's reason and leaves nothing; fixed, it
// installs; a failed upgrade stays as a failed revision, and the next upgrade goes on from it.
func TestFailThenFix(t *testing.T) {
	ctx := context.Background()
	indexRepo(t, "fix")
	dev := asDeveloper(t)
	asDev := func(stdin string, args ...string) (string, error) { return env.KubectlAs(ctx, dev, "", stdin, args...) }
	_, err := asDev(release("fix", "fix.hello-fail", "0.1.0", "default", map[string]any{"fail": true}, "member1"), "create", "-f", "-")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "applicationrelease", "fix", "--ignore-not-found")
	})
	phaseIs := func(gen int64, phase v1alpha1.ReleasePhase) func(v1alpha1.ApplicationRelease, bool) bool {
		return func(r v1alpha1.ApplicationRelease, _ bool) bool {
			return r.Status.ObservedGeneration == gen && len(r.Status.Clusters) == 1 && r.Status.Clusters[0].Phase == phase
		}
	}
	r := waitRelease(t, "fix", 2*time.Minute, phaseIs(1, v1alpha1.ReleasePhaseFailed))
	e := entry(t, r, "member1")
	assert.Equal(t, "Invalid", e.Reason, e.Message)
	assert.Contains(t, e.Message, "Invalid_Name")
	assert.Empty(t, helmJSON(t, "member1", "list", "-n", "default"), "a failed first install leaves nothing")

	set := func(fail bool) {
		_, err := asDev("", "patch", "applicationrelease", "fix", "--type=merge", "-p", fmt.Sprintf(`{"spec":{"values":{"fail":%t}}}`, fail))
		require.NoError(t, err)
	}
	set(false)
	r = waitRelease(t, "fix", 2*time.Minute, func(r v1alpha1.ApplicationRelease, found bool) bool { return r.Generation == 2 && deployed(r, found) })
	assert.EqualValues(t, 1, entry(t, r, "member1").Revision)

	set(true)
	r = waitRelease(t, "fix", 2*time.Minute, phaseIs(3, v1alpha1.ReleasePhaseFailed))
	e = entry(t, r, "member1")
	assert.EqualValues(t, 2, e.Revision, "the failed upgrade is a revision")
	assert.Equal(t, "failed", e.Revisions[len(e.Revisions)-1].Result)

	set(false)
	r = waitRelease(t, "fix", 2*time.Minute, func(r v1alpha1.ApplicationRelease, found bool) bool { return r.Generation == 4 && deployed(r, found) })
	assert.EqualValues(t, 3, entry(t, r, "member1").Revision, "upgraded from the failed revision")
	history := helmJSON(t, "member1", "history", "fix", "-n", "default")
	require.Len(t, history, 3)
	assert.Equal(t, "failed", history[1].Status)
	assert.Equal(t, "deployed", history[2].Status)
}
