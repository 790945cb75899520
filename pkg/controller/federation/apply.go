package federation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	clustersv1alpha1 "kubesphere.io/multicluster/apis/clusters/v1alpha1"
	"kubesphere.io/multicluster/apis/federation"
	"kubesphere.io/multicluster/apis/federation/v1alpha1"
	"kubesphere.io/multicluster/pkg/actas"
)

// target is one federated object as the controller works on it.
type target struct {
	key        string
	uid        string
	generation int64
	namespace  string // the FederatedObject's; empty for a ClusterFederatedObject
	spec       *v1alpha1.FederatedSpec
	user       actas.User

	mu      sync.Mutex
	watched map[watchKey]bool // the watches this sync used
}

func (t *target) used(k watchKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.watched[k] = true
}

// rowError is a failure with the reason a row shows.
type rowError struct {
	reason string
	err    error
}

func (e *rowError) Error() string { return e.err.Error() }

func fail(row v1alpha1.ClusterStatus, reason, msg string) v1alpha1.ClusterStatus {
	row.Reason, row.Message = reason, truncate(msg, 1024)
	row.Ready = false
	return row
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// clusterReady tells whether a cluster may be called, and why not.
func (c *Controller) clusterReady(name string) (string, string, bool) {
	cl, err := c.clusters.Get(name)
	if apierrors.IsNotFound(err) {
		return federation.ReasonClusterNotFound, fmt.Sprintf("no Cluster %q is registered", name), false
	} else if err != nil {
		return federation.ReasonClusterNotReady, err.Error(), false
	}
	if !meta.IsStatusConditionTrue(cl.Status.Conditions, clustersv1alpha1.ClusterReady) {
		return federation.ReasonClusterNotReady, fmt.Sprintf("cluster %s is not Ready; the object is applied when it is", name), false
	}
	return "", "", true
}

// applyCluster makes cluster hold t's object, and returns its row.
func (c *Controller) applyCluster(ctx context.Context, t *target, cluster string, row v1alpha1.ClusterStatus) v1alpha1.ClusterStatus {
	row.Cluster = cluster
	if reason, msg, ok := c.clusterReady(cluster); !ok {
		return fail(row, reason, msg)
	}
	want, hash, err := desired(t.spec, cluster, t.namespace, t.uid)
	if err != nil {
		return fail(row, federation.ReasonOverrideFailed, err.Error())
	}
	mc, err := c.members.client(cluster, t.user)
	if err != nil {
		return fail(row, federation.ReasonUnreachable, err.Error())
	}
	gvk := want.GroupVersionKind()
	gvr, namespaced, err := c.members.mapping(mc, gvk)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return fail(row, federation.ReasonKindNotServed, fmt.Sprintf("cluster %s does not serve %s %s", cluster, gvk.GroupVersion(), gvk.Kind))
		}
		return fail(row, classify(err), memberError(cluster, err))
	}
	ns := ""
	switch {
	case namespaced && t.namespace == "":
		return fail(row, federation.ReasonInvalid, fmt.Sprintf("%s is namespaced: place it with a FederatedObject", gvk.Kind))
	case !namespaced && t.namespace != "":
		return fail(row, federation.ReasonInvalid, fmt.Sprintf("%s is cluster-scoped on cluster %s: place it with a ClusterFederatedObject", gvk.Kind, cluster))
	case namespaced:
		ns = t.namespace
	}
	res := mc.dynamic.Resource(gvr).Namespace(ns)
	wk := watchKey{cluster: cluster, user: userKey(t.user), gvr: gvr, namespace: ns}
	t.used(wk)
	live, found, synced := c.members.live(wk, mc, want.GetName(), t.key)
	if !synced || !found {
		// Not watched yet, or not ours (the watch sees only what carries our label).
		got, err := res.Get(ctx, want.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			live, found = nil, false
		case err != nil:
			return fail(row, classify(err), memberError(cluster, err))
		default:
			live, found = got, true
		}
	}
	adopting := false
	if found && live.GetLabels()[ownerLabel] != t.uid {
		if t.spec.ConflictPolicy != v1alpha1.ConflictPolicyAdopt {
			return fail(row, federation.ReasonConflict, fmt.Sprintf("%s %s already exists on cluster %s and was not made by this object (conflictPolicy Refuse): "+
				"delete it there, or set conflictPolicy Adopt", gvk.Kind, want.GetName(), cluster))
		}
		adopting = true
	}
	var drift []string
	if found && !adopting {
		drift = drifted(want.Object, live.Object)
	}
	revert := len(drift) > 0 && t.spec.Drift == v1alpha1.DriftPolicyRevert
	if found && !adopting && !revert && row.AppliedHash == hash && row.Applied {
		// Nothing new to apply (this generation wants what is there): the row follows the
		// member's object.
		row.AppliedGeneration = t.generation
		return observe(row, live, drift)
	}
	data, err := want.MarshalJSON()
	if err != nil {
		return fail(row, federation.ReasonInvalid, err.Error())
	}
	// A first apply or an adoption takes the template's fields; later ones never take a
	// field another manager owns (an HPA's replicas), unless drift is to be reverted.
	force := !found || adopting || revert
	opts := metav1.PatchOptions{FieldManager: federation.FieldManagerPrefix + t.uid, Force: &force}
	applied, err := res.Patch(ctx, want.GetName(), types.ApplyPatchType, data, opts)
	if apierrors.IsConflict(err) && !force {
		// Fields the template sets that another manager took since (an HPA's replicas):
		// not fought over. The rest of the template is applied without them, and they are
		// reported as drift.
		taken := conflictPaths(err, nil)
		trimmed := want.DeepCopy()
		for _, p := range taken {
			if !removePath(trimmed.Object, p) {
				return fail(row, federation.ReasonConflict, fmt.Sprintf("fields the template sets are another manager's on cluster %s: %s (drift: Revert takes them back)",
					cluster, strings.Join(taken, ", ")))
			}
		}
		if data, err = trimmed.MarshalJSON(); err != nil {
			return fail(row, federation.ReasonInvalid, err.Error())
		}
		if applied, err = res.Patch(ctx, want.GetName(), types.ApplyPatchType, data, opts); err != nil {
			return fail(row, classify(err), memberError(cluster, err))
		}
		row.Applied, row.AppliedGeneration, row.AppliedHash = true, t.generation, hash
		return observe(row, applied, drifted(want.Object, applied.Object))
	}
	if err != nil {
		if apierrors.IsNotFound(err) && ns != "" {
			return fail(row, federation.ReasonNamespaceNotPlaced, fmt.Sprintf("namespace %s does not exist on cluster %s: place it there (a ClusterFederatedObject of the Namespace)", ns, cluster))
		}
		return fail(row, classify(err), memberError(cluster, err))
	}
	row.Applied, row.AppliedGeneration, row.AppliedHash = true, t.generation, hash
	return observe(row, applied, nil)
}

// conflictPaths adds the fields of a server-side-apply conflict to drift.
func conflictPaths(err error, drift []string) []string {
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Details != nil {
		for _, c := range st.Status().Details.Causes {
			if c.Field != "" && !contains(drift, c.Field) && len(drift) < maxDrifted {
				drift = append(drift, c.Field)
			}
		}
	}
	return drift
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// observe sets what the member's object says: its resourceVersion, readiness, replica
// counts and drifted fields.
func observe(row v1alpha1.ClusterStatus, live *unstructured.Unstructured, drift []string) v1alpha1.ClusterStatus {
	row.Reason, row.Message = "", ""
	row.ResourceVersion = live.GetResourceVersion()
	row.Drifted = drift
	row.Ready = false
	if res, err := status.Compute(live); err == nil {
		row.Ready = res.Status == status.CurrentStatus
		if !row.Ready && res.Message != "" {
			row.Message = truncate(res.Message, 1024)
		}
	}
	get := func(f string) int32 {
		v, _, _ := unstructured.NestedInt64(live.Object, "status", f)
		return int32(v)
	}
	row.Replicas, row.ReadyReplicas, row.AvailableReplicas, row.UpdatedReplicas =
		get("replicas"), get("readyReplicas"), get("availableReplicas"), get("updatedReplicas")
	if len(drift) > 0 {
		row.Reason = "Drifted"
		row.Message = "fields the template sets differ on the member: " + strings.Join(drift, ", ")
	}
	return row
}

// cleanup deletes (or orphans) what t made on cluster; done is true when nothing of it is
// left to clean there.
func (c *Controller) cleanup(ctx context.Context, t *target, cluster string, row v1alpha1.ClusterStatus) (v1alpha1.ClusterStatus, bool) {
	if !row.Applied && row.AppliedGeneration == 0 {
		return row, true // nothing was ever applied there (refused, a conflict, not served)
	}
	if reason, msg, ok := c.clusterReady(cluster); !ok {
		if reason == federation.ReasonClusterNotFound {
			return row, true // nothing is left to call
		}
		return fail(row, reason, msg+" (to clean up)"), false
	}
	want, _, err := desired(t.spec, cluster, t.namespace, t.uid)
	if err != nil {
		// The template as last applied is not known: find the object by the template alone.
		want, _, err = desired(&v1alpha1.FederatedSpec{Template: t.spec.Template}, cluster, t.namespace, t.uid)
		if err != nil {
			return fail(row, federation.ReasonInvalid, err.Error()), false
		}
	}
	mc, err := c.members.client(cluster, t.user)
	if err != nil {
		return fail(row, federation.ReasonUnreachable, err.Error()), false
	}
	gvr, namespaced, err := c.members.mapping(mc, want.GroupVersionKind())
	if meta.IsNoMatchError(err) {
		return row, true // the kind is gone, and so is every object of it
	} else if err != nil {
		return fail(row, classify(err), memberError(cluster, err)), false
	}
	ns := ""
	if namespaced {
		ns = t.namespace
	}
	res := mc.dynamic.Resource(gvr).Namespace(ns)
	live, err := res.Get(ctx, want.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return row, true
	} else if err != nil {
		return fail(row, classify(err), memberError(cluster, err)), false
	}
	if live.GetLabels()[ownerLabel] != t.uid {
		return row, true // not ours (any more): never touched
	}
	if t.spec.DeletionPolicy == v1alpha1.DeletionPolicyOrphan {
		// Our label goes, the object stays as it is.
		patch := fmt.Sprintf(`[{"op":"test","path":"/metadata/labels/%s","value":%q},{"op":"remove","path":"/metadata/labels/%s"}]`,
			escape(ownerLabel), t.uid, escape(ownerLabel))
		_, err = res.Patch(ctx, want.GetName(), types.JSONPatchType, []byte(patch), metav1.PatchOptions{FieldManager: "kubesphere-federation"})
	} else {
		uid := live.GetUID()
		err = res.Delete(ctx, want.GetName(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fail(row, classify(err), memberError(cluster, err)), false
	}
	return row, true
}

// removePath deletes a field given as server-side apply names it in a conflict
// (".spec.replicas"); it cannot for paths into lists (".spec.containers[name=\"web\"]").
func removePath(obj map[string]any, path string) bool {
	parts := strings.Split(strings.TrimPrefix(path, "."), ".")
	for _, p := range parts {
		if p == "" || strings.ContainsAny(p, "[]=") {
			return false
		}
	}
	unstructured.RemoveNestedField(obj, parts...)
	return true
}

// memberError says which cluster an error came from: a member's own message rarely does.
func memberError(cluster string, err error) string {
	return fmt.Sprintf("cluster %s: %v", cluster, err)
}

func escape(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1") }

// classify gives an error from a member the reason a user acts on.
func classify(err error) string {
	var netErr net.Error
	switch {
	case apierrors.IsForbidden(err):
		return federation.ReasonForbidden
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return federation.ReasonInvalid
	case apierrors.IsServiceUnavailable(err), apierrors.IsTimeout(err), apierrors.IsServerTimeout(err),
		errors.As(err, &netErr), errors.Is(err, context.DeadlineExceeded):
		return federation.ReasonUnreachable
	}
	return "ApplyFailed"
}
