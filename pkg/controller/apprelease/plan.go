package apprelease

import (
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	clustersv1alpha1 "kubesphere.io/multicluster/apis/clusters/v1alpha1"
)

const (
	// maxAttempts is how often one generation is tried on a cluster before the controller
	// waits for a change of spec.
	maxAttempts  = 6
	firstBackoff = 5 * time.Second
	maxBackoff   = 5 * time.Minute
	// maxRevisions is how many revisions Helm keeps on a member and status shows.
	maxRevisions = 20
	// checkInterval is how often a deployed release's records are read again, so that
	// status follows what happened on the member (a helm command there, an uninstall).
	checkInterval = 5 * time.Minute
)

// op is what one cluster needs.
type op int

const (
	opNone      op = iota // nothing: up to date, kept, gone, or waiting out a backoff
	opApply               // install, or upgrade to the current generation
	opRollback            // roll back to the revision spec.rollback names
	opUninstall           // uninstall: the release is deleted or the cluster left the placement
	opMark                // no Helm call: only the entry changes (Kept, ClusterDeleted, not found)
	opCheck               // read the member's Helm records of a deployed release again
)

// step is one cluster's part of a sync: the op and its entry as it will be shown.
type step struct {
	op    op
	entry v1alpha1.ClusterRelease
}

// placed returns the clusters the placement selects now.
func (c *Controller) placed(rel *v1alpha1.ApplicationRelease) (map[string]bool, error) {
	out := map[string]bool{}
	p := rel.Spec.Placement
	if p.ClusterSelector == nil {
		for _, n := range p.Clusters {
			out[n] = true
		}
		return out, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(p.ClusterSelector)
	if err != nil {
		return nil, err
	}
	list, err := c.clusters.List(sel)
	if err != nil {
		return nil, err
	}
	for _, cl := range list {
		out[cl.Name] = true
	}
	return out, nil
}

// plan decides each cluster's step: those of the placement and those status shows.
// wait is the soonest a backoff ends (0: none pending).
func (c *Controller) plan(rel *v1alpha1.ApplicationRelease, placed map[string]bool, retry bool, now time.Time) (steps map[string]step, wait time.Duration) {
	entries := map[string]v1alpha1.ClusterRelease{}
	for _, e := range rel.Status.Clusters {
		entries[e.Cluster] = e
	}
	names := make([]string, 0, len(placed)+len(entries))
	for n := range placed {
		names = append(names, n)
	}
	for n := range entries {
		names = append(names, n)
	}
	slices.Sort(names)
	names = slices.Compact(names)

	// Attempts count for one generation: a new spec, or a retry asked for, starts them again.
	fresh := rel.Status.ObservedGeneration != rel.Generation || retry
	deleting := rel.DeletionTimestamp != nil
	steps = map[string]step{}
	for _, name := range names {
		e, has := entries[name]
		if !has {
			e = v1alpha1.ClusterRelease{Cluster: name, Phase: v1alpha1.ReleasePhasePending, LastTransitionTime: metav1.NewTime(now)}
		}
		if fresh {
			e.Attempts, e.NextAttemptTime = 0, nil
		}
		s := step{entry: e}
		cl, err := c.clusters.Get(name)
		exists := err == nil
		if exists && e.Phase == v1alpha1.ReleasePhaseUnreachable {
			// The cluster turned Ready after it was found unreachable: its wait is over.
			if r := meta.FindStatusCondition(cl.Status.Conditions, clustersv1alpha1.ClusterReady); r != nil &&
				r.Status == metav1.ConditionTrue && r.LastTransitionTime.After(e.LastTransitionTime.Time) {
				e.NextAttemptTime = nil
				s.entry = e
			}
		}
		switch {
		case !exists && !apierrors.IsNotFound(err):
			// The cache cannot say; look again at the next event.
		case !exists:
			if has && e.Revision != 0 && e.Phase != v1alpha1.ReleasePhaseClusterDeleted {
				s.op, s.entry = opMark, mark(e, v1alpha1.ReleasePhaseClusterDeleted, "", "the Cluster was deleted; nothing is left to call", now)
			} else if e.Revision == 0 && e.Phase != v1alpha1.ReleasePhaseClusterDeleted {
				s.op, s.entry = opMark, mark(e, v1alpha1.ReleasePhasePending, "ClusterNotFound", "no Cluster of this name is registered", now)
			}
		case deleting || !placed[name]:
			switch {
			case settled(e.Phase), !has:
			default:
				if !deleting && rel.Spec.RemovalPolicy == v1alpha1.RemovalPolicyKeep {
					s.op, s.entry = opMark, mark(e, v1alpha1.ReleasePhaseKept, "", "the cluster left the placement; the release stays (removalPolicy Keep)", now)
				} else if d, ok := due(e, now); ok {
					s.op = opUninstall
				} else if d > 0 && (wait == 0 || d < wait) {
					wait = d
				}
			}
		case e.Phase == v1alpha1.ReleasePhaseDeployed && e.AppliedGeneration == rel.Generation:
			if d := c.checkDue(rel.Name, name, now); d <= 0 {
				s.op = opCheck
			} else if wait == 0 || d < wait {
				wait = d
			}
		default:
			if d, ok := due(e, now); ok {
				s.op = opApply
				if rollbackAsked(rel) {
					s.op = opRollback
				}
			} else if d > 0 && (wait == 0 || d < wait) {
				wait = d
			}
		}
		steps[name] = s
	}
	return steps, wait
}

// due says whether a cluster may be tried now, or how long until it may (0: not again
// until the spec changes).
func due(e v1alpha1.ClusterRelease, now time.Time) (time.Duration, bool) {
	// Given up: a failure that does not pass by itself, maxAttempts times (a transient one
	// always has a next attempt).
	if e.Attempts >= maxAttempts && e.NextAttemptTime == nil {
		return 0, false
	}
	if e.NextAttemptTime != nil && e.NextAttemptTime.After(now) {
		return e.NextAttemptTime.Sub(now), false
	}
	return 0, true
}

// rollbackAsked: spec.rollback holds until version or values change (the server clears it
// then), so an edit of anything else keeps the release where the rollback put it.
func rollbackAsked(rel *v1alpha1.ApplicationRelease) bool { return rel.Spec.Rollback != nil }

func mark(e v1alpha1.ClusterRelease, phase v1alpha1.ReleasePhase, reason, message string, now time.Time) v1alpha1.ClusterRelease {
	if e.Phase != phase {
		e.LastTransitionTime = metav1.NewTime(now)
	}
	e.Phase, e.Reason, e.Message, e.NextAttemptTime = phase, reason, message, nil
	return e
}

// backoff is the wait after the nth failed attempt.
func backoff(attempts int32) time.Duration {
	d := firstBackoff
	for i := int32(1); i < attempts && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}
