package apprelease

import (
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"

	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	clustersv1alpha1 "kubesphere.io/multicluster/apis/clusters/v1alpha1"
	appstorelisters "kubesphere.io/multicluster/generated/listers/appstore/v1alpha1"
	clusterlisters "kubesphere.io/multicluster/generated/listers/clusters/v1alpha1"
	"kubesphere.io/multicluster/pkg/appstore/helmexec"
)

func controllerWith(clusters ...string) *Controller {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, n := range clusters {
		_ = idx.Add(&clustersv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"env": "prod"}}})
	}
	return &Controller{clusters: clusterlisters.NewClusterLister(idx), now: time.Now, checked: map[string]map[string]time.Time{}}
}

func releaseOn(gen int64, clusters ...string) *v1alpha1.ApplicationRelease {
	return &v1alpha1.ApplicationRelease{ObjectMeta: metav1.ObjectMeta{Name: "r", Generation: gen},
		Spec:   v1alpha1.ApplicationReleaseSpec{Placement: v1alpha1.Placement{Clusters: clusters}, RemovalPolicy: v1alpha1.RemovalPolicyUninstall},
		Status: v1alpha1.ApplicationReleaseStatus{ObservedGeneration: gen}}
}

func TestPlan(t *testing.T) {
	now := time.Now()
	c := controllerWith("a", "b", "c", "d")
	rel := releaseOn(2, "a", "b", "c", "ghost")
	later := metav1.NewTime(now.Add(time.Minute))
	rel.Status.Clusters = []v1alpha1.ClusterRelease{
		{Cluster: "a", Phase: v1alpha1.ReleasePhaseDeployed, AppliedGeneration: 2},                 // up to date
		{Cluster: "b", Phase: v1alpha1.ReleasePhaseFailed, Attempts: 2, NextAttemptTime: &later},   // backing off
		{Cluster: "c", Phase: v1alpha1.ReleasePhaseFailed, Attempts: maxAttempts},                  // gave up
		{Cluster: "d", Phase: v1alpha1.ReleasePhaseDeployed, AppliedGeneration: 1, Revision: 1},    // left the placement
		{Cluster: "gone", Phase: v1alpha1.ReleasePhaseDeployed, AppliedGeneration: 2, Revision: 3}, // Cluster deleted
	}
	placed, err := c.placed(rel)
	require.NoError(t, err)
	steps, _ := c.plan(rel, placed, false, now)
	assert.Equal(t, opCheck, steps["a"].op, "a deployed release this replica has not read yet")
	c.wasChecked("r", "a", now)
	steps, wait := c.plan(rel, placed, false, now)
	assert.Equal(t, opNone, steps["a"].op)
	assert.Equal(t, opNone, steps["b"].op)
	assert.InDelta(t, time.Minute, wait, float64(time.Second), "the backoff's end is when to look again")
	assert.Equal(t, opNone, steps["c"].op, "no attempt beyond the last until the spec changes")
	assert.Equal(t, opUninstall, steps["d"].op)
	assert.Equal(t, opMark, steps["gone"].op)
	assert.Equal(t, v1alpha1.ReleasePhaseClusterDeleted, steps["gone"].entry.Phase)
	assert.Equal(t, opMark, steps["ghost"].op)
	assert.Equal(t, "ClusterNotFound", steps["ghost"].entry.Reason)
	steps, _ = c.plan(rel, placed, false, now.Add(checkInterval+checkInterval/10))
	assert.Equal(t, opCheck, steps["a"].op, "read again after the interval")

	// A new generation starts the attempts again, everywhere.
	rel.Generation = 3
	steps, _ = c.plan(rel, placed, false, now)
	for _, n := range []string{"a", "b", "c"} {
		assert.Equal(t, opApply, steps[n].op, n)
		assert.Zero(t, steps[n].entry.Attempts, n)
	}

	// A retry asked for starts the attempts again too, on the same generation.
	rel.Status.ObservedGeneration = 3
	steps, _ = c.plan(rel, placed, false, now)
	assert.Equal(t, opNone, steps["c"].op, "gave up")
	steps, _ = c.plan(rel, placed, true, now)
	assert.Equal(t, opApply, steps["c"].op, "retried")

	// Keep leaves a cluster that left the placement alone; deletion uninstalls everywhere.
	rel.Spec.RemovalPolicy = v1alpha1.RemovalPolicyKeep
	steps, _ = c.plan(rel, placed, false, now)
	assert.Equal(t, v1alpha1.ReleasePhaseKept, steps["d"].entry.Phase)
	// (The server counts a deletion as a new generation.)
	rel.DeletionTimestamp, rel.Generation = &metav1.Time{Time: now}, 4
	steps, _ = c.plan(rel, placed, false, now)
	for _, n := range []string{"a", "b", "c", "d"} {
		assert.Equal(t, opUninstall, steps[n].op, n)
	}
}

func TestPlacedBySelector(t *testing.T) {
	c := controllerWith("a", "b")
	rel := releaseOn(1)
	rel.Spec.Placement.ClusterSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}
	placed, err := c.placed(rel)
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"a": true, "b": true}, placed)
}

func TestRollbackAsked(t *testing.T) {
	rel := releaseOn(3, "a")
	assert.False(t, rollbackAsked(rel))
	rel.Spec.Rollback = &v1alpha1.ReleaseRollback{ToGeneration: 1}
	assert.True(t, rollbackAsked(rel))
	rel.Generation = 4 // a placement edit: the rollback still holds
	assert.True(t, rollbackAsked(rel), "an edit of anything but version or values keeps the rollback")
}

func TestBackoff(t *testing.T) {
	assert.Equal(t, 5*time.Second, backoff(1))
	assert.Equal(t, 10*time.Second, backoff(2))
	assert.Equal(t, 80*time.Second, backoff(5))
	assert.Equal(t, maxBackoff, backoff(20))
}

func TestFailedGivesUp(t *testing.T) {
	now := time.Now()
	e := v1alpha1.ClusterRelease{Cluster: "a", Phase: v1alpha1.ReleasePhaseInstalling}
	for i := 1; i < maxAttempts; i++ {
		e = failed(e, errors.New("boom"), now)
		require.NotNil(t, e.NextAttemptTime, "attempt %d", i)
	}
	e = failed(e, errors.New("boom"), now)
	assert.Nil(t, e.NextAttemptTime)
	assert.Contains(t, e.Message, "gave up after 6 attempts")

	// A member that stays unreachable is tried for as long as it takes, at the longest
	// backoff.
	u := v1alpha1.ClusterRelease{Cluster: "b"}
	for range 20 {
		u = failed(u, apierrors.NewServiceUnavailable(`cluster "b" is unreachable`), now)
	}
	require.NotNil(t, u.NextAttemptTime)
	assert.Equal(t, maxBackoff, u.NextAttemptTime.Sub(now))
	assert.NotContains(t, u.Message, "gave up")
	_, ok := due(u, now.Add(maxBackoff))
	assert.True(t, ok, "due again when its backoff ends")
}

func TestClassify(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "rbac.authorization.k8s.io", Resource: "clusterroles"}, "x", errors.New("no"))
	for _, tc := range []struct {
		err    error
		phase  v1alpha1.ReleasePhase
		reason string
	}{
		{fmt.Errorf("install: %w", forbidden), v1alpha1.ReleasePhaseFailed, "Forbidden"},
		{fmt.Errorf("could not get information: %v", forbidden), v1alpha1.ReleasePhaseFailed, "Forbidden"},
		{apierrors.NewServiceUnavailable(`cluster "b" is unreachable`), v1alpha1.ReleasePhaseUnreachable, "Unreachable"},
		{fmt.Errorf("%w: pending", helmexec.ErrOperationInProgress), v1alpha1.ReleasePhaseFailed, "OperationInProgress"},
		{&chartError{"ChartDigestMismatch", errors.New("x")}, v1alpha1.ReleasePhaseFailed, "ChartDigestMismatch"},
		{apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "Invalid_Name", nil), v1alpha1.ReleasePhaseFailed, "Invalid"},
		{errors.New("template: boom"), v1alpha1.ReleasePhaseFailed, "HelmError"},
	} {
		phase, reason := classify(tc.err)
		assert.Equal(t, tc.phase, phase, tc.err.Error())
		assert.Equal(t, tc.reason, reason, tc.err.Error())
	}
}

func TestFromHistory(t *testing.T) {
	rel := releaseOn(2, "a")
	rel.Status.Requester.Username = "dev"
	rel.Status.Requests = []v1alpha1.RequestRecord{{Generation: 1, User: "alice"}, {Generation: 2, User: "dev"}}
	ch := &chart.Chart{Metadata: &chart.Metadata{Name: "hello", Version: "0.2.0"}}
	history := []*releasev1.Release{
		{Version: 1, Chart: ch, Labels: map[string]string{"appstore.kubesphere.io/generation": "1"},
			Info: &releasev1.Info{Status: rcommon.StatusSuperseded, Description: "appstore: install by alice (generation 1)"}},
		{Version: 2, Chart: ch, Labels: map[string]string{"appstore.kubesphere.io/generation": "2"},
			Manifest: "---\nkind: ConfigMap\n---\nkind: Service\n",
			Info:     &releasev1.Info{Status: rcommon.StatusDeployed, Description: "appstore: upgrade by dev (generation 2)"}},
	}
	e := fromHistory(v1alpha1.ClusterRelease{Cluster: "a"}, rel, history, time.Now())
	assert.Equal(t, v1alpha1.ReleasePhaseDeployed, e.Phase)
	assert.EqualValues(t, 2, e.Revision)
	assert.EqualValues(t, 2, e.AppliedGeneration)
	assert.Equal(t, "0.2.0", e.ChartVersion)
	assert.EqualValues(t, 2, e.TotalResources)
	require.Len(t, e.Revisions, 2)
	assert.Equal(t, "alice", e.Revisions[0].User)
	assert.Equal(t, v1alpha1.RevisionActionInstall, e.Revisions[0].Action)
	assert.Equal(t, v1alpha1.RevisionActionUpgrade, e.Revisions[1].Action)

	// A failed revision's description is Helm's error: the request of its generation says who.
	history[1].Info = &releasev1.Info{Status: rcommon.StatusFailed, Description: "Upgrade \"r\" failed: boom"}
	e = fromHistory(e, rel, history, time.Now())
	assert.Equal(t, v1alpha1.ReleasePhaseFailed, e.Phase)
	assert.Equal(t, "dev", e.Revisions[1].User)
}

// A sync right after a status write acts on that write, not on the informer's older copy.
func TestCurrentPrefersOwnWrite(t *testing.T) {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	stale := releaseOn(1, "a")
	stale.UID, stale.ResourceVersion = "u", "10"
	require.NoError(t, idx.Add(stale))
	c := &Controller{releases: appstorelisters.NewApplicationReleaseLister(idx), written: map[string]*v1alpha1.ApplicationRelease{}}
	w := stale.DeepCopy()
	w.ResourceVersion = "11"
	w.Status.Clusters = []v1alpha1.ClusterRelease{{Cluster: "a", Phase: v1alpha1.ReleasePhaseDeployed, AppliedGeneration: 1}}
	c.wrote(w)
	got, err := c.current("r")
	require.NoError(t, err)
	assert.Equal(t, w.Status, got.Status)

	// Once the informer has it, the informer's copy is the one, and the note is dropped.
	require.NoError(t, idx.Update(w))
	got, err = c.current("r")
	require.NoError(t, err)
	assert.Equal(t, "11", got.ResourceVersion)
	assert.Empty(t, c.written)
}

// A pending revision is taken as cut off only when it is this release's and older than
// any of its operations may run.
func TestAbandoned(t *testing.T) {
	now := time.Now()
	c := &Controller{now: func() time.Time { return now }, pendingGrace: DefaultPendingGrace}
	rel := releaseOn(2, "a")
	pending := func(labels map[string]string, age time.Duration) *releasev1.Release {
		return &releasev1.Release{Version: 2, Labels: labels,
			Info: &releasev1.Info{Status: rcommon.StatusPendingUpgrade, LastDeployed: now.Add(-age)}}
	}
	ours := recordLabels(rel, 2)
	assert.True(t, c.abandoned(pending(ours, time.Hour), rel, 5*time.Minute))
	assert.False(t, c.abandoned(pending(ours, time.Minute), rel, 5*time.Minute), "may still run")
	other := releaseOn(2, "a")
	other.Name = "other"
	assert.False(t, c.abandoned(pending(recordLabels(other, 2), time.Hour), rel, 5*time.Minute), "another release's")
	assert.False(t, c.abandoned(pending(ours, 6*time.Minute), rel, 5*time.Minute), "within the grace")
	c.pendingGrace = 10 * time.Second
	assert.True(t, c.abandoned(pending(ours, 6*time.Minute), rel, 5*time.Minute), "past a shorter grace")
}

// Helm copies a record's labels onto the next one another client makes: a `helm upgrade`
// on the member merges the newest revision's labels into its own, a `helm rollback` takes
// its target's. Such a record is not the store's, however old: its operation is not ours
// to end.
func TestAbandonedNotAnotherClients(t *testing.T) {
	now := time.Now()
	c := &Controller{now: func() time.Time { return now }, pendingGrace: DefaultPendingGrace}
	rel := releaseOn(2, "r")
	rel.Status.Requester.Username = "dev"
	old := now.Add(-time.Hour)
	ours := &releasev1.Release{Version: 1, Labels: recordLabels(releaseOn(1, "r"), 1),
		Info: &releasev1.Info{Status: rcommon.StatusDeployed, Description: "appstore: install by dev (generation 1)"}}

	// helm upgrade: Helm's mergeCustomLabels(last.Labels, none).
	upgrade := &releasev1.Release{Version: 2, Labels: maps.Clone(ours.Labels),
		Info: &releasev1.Info{Status: rcommon.StatusPendingUpgrade, Description: "Preparing upgrade", LastDeployed: old}}
	assert.False(t, c.abandoned(upgrade, rel, 5*time.Minute), "another client's upgrade, with the store's labels copied")

	// helm rollback 1: the target's labels.
	rollback := &releasev1.Release{Version: 2, Labels: maps.Clone(ours.Labels),
		Info: &releasev1.Info{Status: rcommon.StatusPendingRollback, Description: "Rollback to 1", LastDeployed: old}}
	assert.False(t, c.abandoned(rollback, rel, 5*time.Minute), "another client's rollback")

	// The store's own rollback also carries its target's labels; its description is ours.
	rollback.Info.Description = describe("rollback", rel)
	assert.True(t, c.abandoned(rollback, rel, 5*time.Minute), "the store's rollback, cut off")

	// The store's upgrade is labelled with the revision Helm makes.
	upgrade.Labels = recordLabels(rel, upgrade.Version)
	assert.True(t, c.abandoned(upgrade, rel, 5*time.Minute), "the store's upgrade, cut off")
}
