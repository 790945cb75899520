package apprelease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/pkg/appstore/helmexec"
)

// DefaultPendingGrace is how long past a release's timeout a pending revision of ours is
// left alone before it is taken as cut off: as long as a sync may run past the timeout
// (syncSlack), so that the operation of a replica that was stopped and is finishing its
// sync is never taken for a dead one.
const DefaultPendingGrace = syncSlack

// syncSlack bounds how long one sync runs beyond its release's timeout.
const syncSlack = 2 * time.Minute

// opTimeout bounds one Helm operation of rel on one cluster.
func opTimeout(rel *v1alpha1.ApplicationRelease) time.Duration {
	if rel.Spec.Timeout != nil && rel.Spec.Timeout.Duration > 0 {
		return rel.Spec.Timeout.Duration
	}
	return v1alpha1.DefaultReleaseTimeout
}

// phaseOf is the phase shown while op runs.
func phaseOf(o op, e v1alpha1.ClusterRelease) v1alpha1.ReleasePhase {
	switch o {
	case opUninstall:
		return v1alpha1.ReleasePhaseUninstalling
	case opRollback:
		return v1alpha1.ReleasePhaseRollingBack
	}
	if e.Revision == 0 {
		return v1alpha1.ReleasePhaseInstalling
	}
	return v1alpha1.ReleasePhaseUpgrading
}

// run does one cluster's op as the release's requester and returns its new entry.
func (c *Controller) run(ctx context.Context, rel *v1alpha1.ApplicationRelease, cluster string, s step) v1alpha1.ClusterRelease {
	t := helmexec.Target{Cluster: cluster, Namespace: rel.Spec.TargetNamespace, Release: rel.Spec.ReleaseName, User: rel.Status.Requester}
	timeout := opTimeout(rel)
	// Helm stops at its own timeout; this bounds what it does not time (discovery, history).
	ctx, cancel := context.WithTimeout(ctx, timeout+time.Minute)
	defer cancel()
	e := s.entry
	h, err := c.helm(t)
	if err != nil {
		return failed(e, fmt.Errorf("cluster %s: %w", cluster, err), c.now())
	}
	if s.op == opUninstall {
		if err = h.Uninstall(timeout, describe("uninstall", rel)); err == nil {
			c.ready.stop(rel.Name, cluster)
			e = mark(e, v1alpha1.ReleasePhaseUninstalled, "", "", c.now())
			e.Revision, e.ReadyResources, e.TotalResources, e.Attempts = 0, 0, 0, 0
			return e
		}
	}
	if s.op == opCheck {
		return c.check(rel, h, t, e)
	}
	var installed *releasev1.Release
	switch s.op {
	case opRollback:
		err = c.rollback(rel, h, cluster, e, timeout)
	case opApply:
		installed, err = c.apply(ctx, rel, h, timeout)
	}
	if err == nil && installed != nil && installed.Version == 1 {
		// A first install is the whole history: no need to read it back.
		e = c.follow(rel, t, e, []*releasev1.Release{installed})
	} else if err == nil || s.op != opUninstall {
		// Whatever happened, the member's records say where the release stands.
		if history, herr := h.History(); herr == nil {
			e = c.follow(rel, t, e, history)
		} else if err == nil {
			err = herr
		}
	}
	if err != nil {
		// Helm's errors do not say which cluster; the message a user reads does.
		return failed(e, fmt.Errorf("cluster %s: %w", cluster, err), c.now())
	}
	if e.Phase == v1alpha1.ReleasePhaseDeployed {
		e.Reason, e.Message, e.Attempts, e.NextAttemptTime = "", "", 0, nil
	}
	return e
}

// check reads a deployed release's records again: a revision someone else made shows (and,
// not being this generation's, is replaced by it at the next sync), and a release gone from
// the member is installed again.
func (c *Controller) check(rel *v1alpha1.ApplicationRelease, h Helm, t helmexec.Target, e v1alpha1.ClusterRelease) v1alpha1.ClusterRelease {
	history, err := h.History()
	switch {
	case err != nil:
		// A failed read says nothing about the release: it stays as last seen, and the
		// next check reads again.
		klog.InfoS("Reading a deployed release's records", "release", rel.Name, "cluster", t.Cluster, "err", err)
		return e
	case len(history) == 0:
		c.ready.stop(rel.Name, t.Cluster)
		return mark(e, v1alpha1.ReleasePhasePending, "ReleaseMissing", "the Helm release is gone from the cluster; it is installed again", c.now())
	}
	return c.follow(rel, t, e, history)
}

// follow sets the entry from the member's records and, while the newest revision is
// deployed, watches its workloads there.
func (c *Controller) follow(rel *v1alpha1.ApplicationRelease, t helmexec.Target, e v1alpha1.ClusterRelease, history []*releasev1.Release) v1alpha1.ClusterRelease {
	e = fromHistory(e, rel, history, c.now())
	if e.Phase == v1alpha1.ReleasePhaseDeployed && len(history) > 0 {
		c.ready.track(rel.Name, t, history[len(history)-1].Manifest)
	} else {
		c.ready.stop(rel.Name, t.Cluster)
	}
	return e
}

// apply installs the current generation, or upgrades to it, and returns what Helm made.
func (c *Controller) apply(ctx context.Context, rel *v1alpha1.ApplicationRelease, h Helm, timeout time.Duration) (*releasev1.Release, error) {
	history, err := h.History()
	if err != nil {
		return nil, err
	}
	ch, err := c.charts.load(ctx, rel.Spec.Application, rel.Spec.Version)
	if err != nil {
		// A version gone from its repository fails here, closed: the chart inside the
		// member's release record is the member's to forge, and is never installed.
		return nil, err
	}
	values := map[string]any{}
	if rel.Spec.Values != nil && len(rel.Spec.Values.Raw) > 0 {
		if err := json.Unmarshal(rel.Spec.Values.Raw, &values); err != nil {
			return nil, &chartError{"InvalidValues", fmt.Errorf("spec.values: %w", err)}
		}
	}
	req := helmexec.Request{Chart: ch, Values: values, CreateNamespace: rel.Spec.CreateNamespace, Timeout: timeout,
		Labels: recordLabels(rel, 1), MaxHistory: maxRevisions}
	if len(history) == 0 {
		req.Description = describe("install", rel)
		return h.Install(ctx, req)
	}
	last := history[len(history)-1]
	if last.Info != nil && last.Info.Status.IsPending() {
		if !c.abandoned(last, rel, timeout) {
			return nil, fmt.Errorf("%w: revision %d is %s", helmexec.ErrOperationInProgress, last.Version, last.Info.Status)
		}
		// Ours, and older than any operation of ours may run: it was cut off (a crash, a
		// cut tunnel). Helm would have recorded the failure; record it, then go on.
		note := fmt.Sprintf("appstore: %s of generation %s did not finish; marked failed", last.Info.Status, last.Labels[appstore.GenerationLabel])
		if err := h.MarkFailed(last, note); err != nil {
			return nil, err
		}
		if last.Version == 1 {
			// A first install never finished: remove it and install afresh.
			if err := h.Uninstall(timeout, describe("uninstall", rel)); err != nil {
				return nil, err
			}
			req.Description = describe("install", rel)
			return h.Install(ctx, req)
		}
	}
	// Helm numbers an upgrade after the newest revision, whatever its state.
	req.Labels = recordLabels(rel, last.Version+1)
	req.Description = describe("upgrade", rel)
	return h.Upgrade(ctx, req)
}

// revisionLabel, on a Helm record this controller's install or upgrade made, is the
// record's own revision. Helm copies labels from one record to the next that another
// client makes (an upgrade merges in the newest revision's, a rollback takes its
// target's), so the release's label does not tell the store's records from another
// client's: a copy names another revision than its own.
const revisionLabel = appstore.GroupName + "/revision"

// recordLabels are the labels of the record of revision that an operation for rel's
// current generation makes.
func recordLabels(rel *v1alpha1.ApplicationRelease, revision int) map[string]string {
	return map[string]string{appstore.ReleaseLabel: rel.Name, appstore.GenerationLabel: strconv.FormatInt(rel.Generation, 10),
		revisionLabel: strconv.Itoa(revision)}
}

// madeByUs: the record was made by an operation of this controller for rel: an install or
// upgrade labelled with its own revision, or a rollback, whose description (set when it
// begins, kept unless it fails) is ours.
func madeByUs(r *releasev1.Release, rel *v1alpha1.ApplicationRelease) bool {
	if r.Labels[appstore.ReleaseLabel] != rel.Name {
		return false
	}
	if r.Labels[revisionLabel] == strconv.Itoa(r.Version) {
		return true
	}
	m := described.FindStringSubmatch(r.Info.Description)
	return r.Info.Status == rcommon.StatusPendingRollback && m != nil && m[1] == "rollback"
}

// abandoned: a pending revision this release made whose operation began longer ago than
// one may run, so none of ours is still at it. Another client's pending revision is never
// abandoned: how long its operation may run is not ours to know.
func (c *Controller) abandoned(r *releasev1.Release, rel *v1alpha1.ApplicationRelease, timeout time.Duration) bool {
	if !madeByUs(r, rel) {
		return false
	}
	return !r.Info.LastDeployed.IsZero() && c.now().Sub(r.Info.LastDeployed) > timeout+c.pendingGrace
}

// rollback returns the cluster to the revision spec.rollback names for it, or the one
// status recorded for the generation it names.
func (c *Controller) rollback(rel *v1alpha1.ApplicationRelease, h Helm, cluster string, e v1alpha1.ClusterRelease, timeout time.Duration) error {
	rb := rel.Spec.Rollback
	revision := int(rb.Revisions[cluster])
	if revision == 0 {
		for _, r := range e.Revisions {
			if r.Generation == rb.ToGeneration && r.Result != string(rcommon.StatusFailed) {
				revision = int(r.Revision)
			}
		}
	}
	if revision == 0 {
		return &chartError{"RevisionNotFound", fmt.Errorf("no revision of generation %d to roll back to", rb.ToGeneration)}
	}
	return h.Rollback(revision, timeout, describe("rollback", rel), maxRevisions)
}

// describe is the revision's description in `helm history`: who asked, for which
// generation. fromHistory reads it back.
func describe(action string, rel *v1alpha1.ApplicationRelease) string {
	return fmt.Sprintf("appstore: %s by %s (generation %d)", action, rel.Status.Requester.Username, rel.Generation)
}

var described = regexp.MustCompile(`^appstore: (\w+) by (.+) \(generation (\d+)\)$`)

// knownActions are the words describe writes; any other description (one written on the
// member) is not ours.
var knownActions = map[string]v1alpha1.RevisionAction{"install": v1alpha1.RevisionActionInstall,
	"upgrade": v1alpha1.RevisionActionUpgrade, "rollback": v1alpha1.RevisionActionRollback, "uninstall": v1alpha1.RevisionActionUninstall}

// Bounds of the messages status keeps (within validation's): Helm's errors can be long.
const (
	maxMessage         = 4096
	maxRevisionMessage = 1024
)

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// fromHistory sets what the member's records say: the newest revision and its state, and
// the last revisions with who made them.
func fromHistory(e v1alpha1.ClusterRelease, rel *v1alpha1.ApplicationRelease, history []*releasev1.Release, now time.Time) v1alpha1.ClusterRelease {
	if len(history) == 0 {
		e.Revision, e.Revisions, e.ReadyResources, e.TotalResources = 0, nil, 0, 0
		return e
	}
	e.Revisions = e.Revisions[:0:0]
	for _, h := range history[max(0, len(history)-maxRevisions):] {
		e.Revisions = append(e.Revisions, revisionOf(h, rel))
	}
	last := history[len(history)-1]
	e.Revision = int32(last.Version)
	if last.Chart != nil && last.Chart.Metadata != nil {
		e.ChartVersion = last.Chart.Metadata.Version
	}
	rec := e.Revisions[len(e.Revisions)-1]
	e.AppliedGeneration = rec.Generation
	phase := v1alpha1.ReleasePhaseFailed
	if last.Info != nil && last.Info.Status == rcommon.StatusDeployed {
		phase = v1alpha1.ReleasePhaseDeployed
		// Helm waited for every resource to be ready before it called the revision deployed.
		n := int32(len(releaseutil.SplitManifests(last.Manifest)))
		e.ReadyResources, e.TotalResources = n, n
	}
	if phase != e.Phase {
		e.LastTransitionTime = metav1.NewTime(now)
	}
	e.Phase = phase
	return e
}

func revisionOf(h *releasev1.Release, rel *v1alpha1.ApplicationRelease) v1alpha1.RevisionRecord {
	r := v1alpha1.RevisionRecord{Revision: int32(h.Version)}
	if h.Info != nil {
		r.Result, r.Message = string(h.Info.Status), h.Info.Description
		r.Time = metav1.NewTime(h.Info.LastDeployed)
		// Our description names the generation; a rollback's revision keeps the labels of
		// the revision it copies, so the label is second.
		r.Message = truncate(r.Message, maxRevisionMessage)
		if m := described.FindStringSubmatch(h.Info.Description); m != nil && knownActions[m[1]] != "" {
			r.Action = knownActions[m[1]]
			r.User = m[2]
			r.Generation, _ = strconv.ParseInt(m[3], 10, 64)
		}
	}
	if g, err := strconv.ParseInt(h.Labels[appstore.GenerationLabel], 10, 64); err == nil && r.Generation == 0 {
		r.Generation = g
	}
	if r.User == "" {
		// Helm replaces a failed revision's description with its error: the request of that
		// generation names who asked.
		for _, q := range rel.Status.Requests {
			if q.Generation == r.Generation {
				r.User = q.User
			}
		}
	}
	if r.Action == "" {
		r.Action = v1alpha1.RevisionActionUpgrade
		if h.Version == 1 {
			r.Action = v1alpha1.RevisionActionInstall
		}
	}
	return r
}

// failed records err on the entry with the next attempt's time. A failure that may pass
// by itself (the member or the proxy unreachable, a timeout, another operation running) is
// retried for as long as it lasts, at the longest backoff; the others count towards
// maxAttempts.
func failed(e v1alpha1.ClusterRelease, err error, now time.Time) v1alpha1.ClusterRelease {
	phase, reason := classify(err)
	msg := truncate(err.Error(), maxMessage)
	transient := phase == v1alpha1.ReleasePhaseUnreachable || reason == "Timeout" || reason == "OperationInProgress"
	e.Attempts++
	if !transient && e.Attempts >= maxAttempts {
		msg += fmt.Sprintf(" (gave up after %d attempts: change the spec, or the %s annotation, to try again)", e.Attempts, appstore.RetryAnnotation)
		return mark(e, phase, reason, msg, now)
	}
	e = mark(e, phase, reason, msg, now)
	next := metav1.NewTime(now.Add(backoff(e.Attempts)))
	e.NextAttemptTime = &next
	return e
}

// classify gives a failure its phase and a reason a user can act on.
func classify(err error) (v1alpha1.ReleasePhase, string) {
	var ce *chartError
	var netErr net.Error
	switch {
	case errors.As(err, &ce):
		return v1alpha1.ReleasePhaseFailed, ce.reason
	case errors.Is(err, helmexec.ErrOperationInProgress):
		return v1alpha1.ReleasePhaseFailed, "OperationInProgress"
	case apierrors.IsForbidden(err), strings.Contains(err.Error(), " is forbidden: "):
		// Helm wraps some API errors as text only; the member's refusal still reads so.
		return v1alpha1.ReleasePhaseFailed, "Forbidden"
	case apierrors.IsUnauthorized(err):
		return v1alpha1.ReleasePhaseFailed, "Unauthorized"
	case apierrors.IsInvalid(err), strings.Contains(err.Error(), " is invalid: "):
		// The member refused an object of the chart as rendered with these values.
		return v1alpha1.ReleasePhaseFailed, "Invalid"
	case apierrors.IsServiceUnavailable(err), apierrors.IsTimeout(err), errors.As(err, &netErr):
		return v1alpha1.ReleasePhaseUnreachable, "Unreachable"
	case apierrors.ReasonForError(err) == metav1.StatusReasonInternalError && apierrors.IsInternalError(err):
		return v1alpha1.ReleasePhaseFailed, "MemberError"
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(err.Error(), "context deadline exceeded"):
		return v1alpha1.ReleasePhaseFailed, "Timeout"
	}
	return v1alpha1.ReleasePhaseFailed, "HelmError"
}
