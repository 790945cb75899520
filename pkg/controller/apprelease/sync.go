package apprelease

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
)

// sync reconciles the release name once; it returns when to look again (0: at the next
// event).
func (c *Controller) sync(ctx context.Context, name string) (time.Duration, error) {
	rel, err := c.current(name)
	if apierrors.IsNotFound(err) {
		c.forget(name)
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	// A sync that started finishes, shutdown or not: a Helm operation cut off midway leaves
	// a pending record that blocks the release. Its operations bound it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout(rel)+syncSlack)
	defer cancel()
	deleting := rel.DeletionTimestamp != nil
	if deleting && !slices.Contains(rel.Finalizers, appstore.UninstallFinalizer) {
		return 0, nil
	}
	if deleting && rel.Annotations[appstore.OrphanAnnotation] != "" {
		return 0, c.dropFinalizer(ctx, rel)
	}
	placed, err := c.placed(rel)
	if err != nil {
		return 0, err
	}
	steps, wait := c.plan(rel, placed, c.retryAsked(rel), c.now())
	var work []string
	for cl, s := range steps {
		switch s.op {
		case opApply, opRollback, opUninstall:
			work = append(work, cl)
			s.entry = mark(s.entry, phaseOf(s.op, s.entry), "", "", c.now())
			steps[cl] = s
		case opCheck:
			work = append(work, cl)
		}
	}
	slices.Sort(work)
	if slices.ContainsFunc(work, func(cl string) bool { return steps[cl].op != opCheck }) {
		// Show what runs before it runs: an install can take minutes.
		planned := rel.Generation
		if rel, err = c.writeStatus(ctx, rel, steps, true); err != nil {
			return 0, err
		}
		if rel.Generation != planned || rel.DeletionTimestamp != nil && !deleting {
			// The release changed while its status was written: plan again for what it is now.
			return time.Second, nil
		}
	}
	if len(work) > 0 {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, cl := range work {
			wg.Go(func() {
				e := c.run(ctx, rel, cl, steps[cl])
				c.wasChecked(rel.Name, cl, c.now())
				klog.InfoS("Application release on a cluster", "release", rel.Name, "cluster", cl, "generation", rel.Generation,
					"phase", e.Phase, "revision", e.Revision, "reason", e.Reason, "message", e.Message)
				mu.Lock()
				steps[cl] = step{op: steps[cl].op, entry: e}
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	if rel, err = c.writeStatus(ctx, rel, steps, false); err != nil {
		return 0, err
	}
	for _, s := range steps {
		if s.entry.NextAttemptTime != nil {
			if d := s.entry.NextAttemptTime.Sub(c.now()); d > 0 && (wait == 0 || d < wait) {
				wait = d
			}
		}
	}
	if deleting && uninstalledEverywhere(steps) {
		return 0, c.dropFinalizer(ctx, rel)
	}
	return wait, nil
}

// uninstalledEverywhere: no cluster still holds the deleted release.
func uninstalledEverywhere(steps map[string]step) bool {
	for _, s := range steps {
		switch {
		case settled(s.entry.Phase):
		case s.entry.Phase == v1alpha1.ReleasePhasePending:
			if s.entry.Revision != 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// writeStatus stores the steps' entries and the summary conditions, unless nothing changed.
// It returns the release as stored.
func (c *Controller) writeStatus(ctx context.Context, rel *v1alpha1.ApplicationRelease, steps map[string]step, progressing bool) (*v1alpha1.ApplicationRelease, error) {
	gen, base, out := rel.Generation, rel, rel
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := base.DeepCopy()
		cur.Status.Clusters = cur.Status.Clusters[:0:0]
		for _, s := range steps {
			e := s.entry
			if e.Phase == v1alpha1.ReleasePhaseDeployed {
				// Helm judged readiness when it deployed; the member's workloads since.
				if n, known := c.ready.notReady(rel.Name, e.Cluster); known {
					e.ReadyResources = max(0, e.TotalResources-int32(n))
				}
			} else if s.op == opMark || settled(e.Phase) {
				// Kept, gone or deleted there: nothing of it is watched any more.
				c.ready.stop(rel.Name, e.Cluster)
			}
			cur.Status.Clusters = append(cur.Status.Clusters, e)
		}
		slices.SortFunc(cur.Status.Clusters, func(a, b v1alpha1.ClusterRelease) int { return strings.Compare(a.Cluster, b.Cluster) })
		// What this sync acted on, even when the spec has moved on meanwhile: the next sync
		// sees the difference and starts the new generation's attempts afresh.
		cur.Status.ObservedGeneration = gen
		setConditions(cur, gen, progressing, c.now())
		if apiequality.Semantic.DeepEqual(cur.Status, base.Status) {
			out = base
			return nil
		}
		updated, err := c.client.AppstoreV1alpha1().ApplicationReleases().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			fresh, gerr := c.client.AppstoreV1alpha1().ApplicationReleases().Get(ctx, rel.Name, metav1.GetOptions{})
			if gerr != nil {
				return gerr
			}
			base = fresh
			return err
		} else if err != nil {
			return err
		}
		out = updated
		c.wrote(updated)
		return nil
	})
	return out, err
}

// setConditions summarises the clusters: Ready when every placed cluster runs this
// generation with all its resources ready, Progressing while an operation runs.
func setConditions(rel *v1alpha1.ApplicationRelease, gen int64, progressing bool, now time.Time) {
	var notReady []string
	for _, e := range rel.Status.Clusters {
		switch {
		case e.Phase == v1alpha1.ReleasePhaseDeployed && e.AppliedGeneration == gen && e.ReadyResources < e.TotalResources:
			notReady = append(notReady, fmt.Sprintf("%s: %d/%d resources ready", e.Cluster, e.ReadyResources, e.TotalResources))
		case e.Phase == v1alpha1.ReleasePhaseDeployed && e.AppliedGeneration == gen:
		case settled(e.Phase):
		default:
			s := fmt.Sprintf("%s: %s", e.Cluster, e.Phase)
			if e.Reason != "" {
				s += " (" + e.Reason + ")"
			}
			notReady = append(notReady, s)
		}
	}
	ready := metav1.Condition{Type: v1alpha1.ReleaseReady, Status: metav1.ConditionTrue, Reason: "Deployed",
		Message: "every cluster of the placement runs this generation", ObservedGeneration: gen}
	if rel.DeletionTimestamp != nil {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, "Deleting", "uninstalling from every cluster"
	} else if len(notReady) > 0 {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, "NotDeployed", strings.Join(notReady, "; ")
	}
	prog := metav1.Condition{Type: v1alpha1.ReleaseProgressing, Status: metav1.ConditionFalse, Reason: "Idle",
		Message: "no operation is running", ObservedGeneration: gen}
	if progressing {
		prog.Status, prog.Reason, prog.Message = metav1.ConditionTrue, "Operating", "a Helm operation runs on some cluster"
	}
	for _, cond := range []metav1.Condition{ready, prog} {
		cond.LastTransitionTime = metav1.NewTime(now)
		meta.SetStatusCondition(&rel.Status.Conditions, cond)
	}
}

// dropFinalizer lets the deleted release go.
func (c *Controller) dropFinalizer(ctx context.Context, rel *v1alpha1.ApplicationRelease) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := c.client.AppstoreV1alpha1().ApplicationReleases().Get(ctx, rel.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		} else if err != nil {
			return err
		}
		if !slices.Contains(cur.Finalizers, appstore.UninstallFinalizer) {
			return nil
		}
		cur.Finalizers = slices.DeleteFunc(cur.Finalizers, func(f string) bool { return f == appstore.UninstallFinalizer })
		_, err = c.client.AppstoreV1alpha1().ApplicationReleases().Update(ctx, cur, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
}

// settled phases need nothing more on their cluster: the release was removed from it, is
// kept there by policy, or the cluster is gone.
func settled(p v1alpha1.ReleasePhase) bool {
	return p == v1alpha1.ReleasePhaseUninstalled || p == v1alpha1.ReleasePhaseKept || p == v1alpha1.ReleasePhaseClusterDeleted
}
