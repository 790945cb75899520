package federated

import (
	"context"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"

	"kubesphere.io/multicluster/apis/federation"
	federationv1alpha1 "kubesphere.io/multicluster/apis/federation/v1alpha1"
	"kubesphere.io/multicluster/apis/federation/validation"
	clusterlisters "kubesphere.io/multicluster/generated/listers/clusters/v1alpha1"
	federationlisters "kubesphere.io/multicluster/generated/listers/federation/v1alpha1"
	"kubesphere.io/multicluster/pkg/placement"
	"kubesphere.io/multicluster/pkg/registry/access"
)

// actor is who acts on members, in messages.
const actor = "federation"

// Guard is the admission of writes that validation cannot decide. Federation acts on each
// cluster as the recorded requester, through the same per-cluster gate as kubectl; asking
// here first turns a refusal the controller would meet later into a Forbidden now, with
// nothing stored.
type Guard struct {
	// Authorizer decides for the requesting user; without one every write is refused.
	Authorizer access.Authorizer
	// Clusters resolves placement selectors.
	Clusters clusterlisters.ClusterLister
	// Namespaces finds the ClusterFederatedObject of a namespace, whose placement a
	// FederatedObject without its own follows.
	Namespaces federationlisters.ClusterFederatedObjectLister
}

// admit checks a create, or an update that changes spec: who asks becomes the requester for
// every cluster, so every one is checked again.
func (g Guard) admit(resource schema.GroupResource) func(ctx context.Context, obj, old runtime.Object) error {
	return func(ctx context.Context, obj, old runtime.Object) error {
		o := obj.(federation.Object)
		var prev federation.Object
		if old != nil {
			prev = old.(federation.Object)
			if o.GetGeneration() == prev.GetGeneration() {
				return nil // metadata only: nothing new is done as anyone
			}
		}
		u, ok := request.UserFrom(ctx)
		if !ok {
			return apierrors.NewForbidden(resource, o.GetName(), fmt.Errorf("no user to record as the requester"))
		}
		if err := access.RefuseUnimpersonable(u, resource, o.GetName(), actor, false); err != nil {
			return err
		}
		if err := g.admitNamespace(ctx, resource, o); err != nil {
			return err
		}
		placed, err := g.Placed(o)
		if err != nil {
			return err
		}
		for _, c := range placed {
			if err := access.UseCluster(ctx, g.Authorizer, resource, o.GetName(), c, "create", "place objects on", actor); err != nil {
				return err
			}
		}
		if prev == nil {
			return nil
		}
		// Clusters that leave the placement are cleaned up as who asks now.
		spec, _ := o.Parts()
		verb, what := cleanupVerb(spec.DeletionPolicy)
		for _, c := range appliedOn(prev) {
			if !slices.Contains(placed, c) {
				if err := access.UseCluster(ctx, g.Authorizer, resource, o.GetName(), c, verb, what+" (it leaves the placement) on", actor); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// admitDelete checks that the deleter may clean up wherever the object was applied.
func (g Guard) admitDelete(ctx context.Context, resource schema.GroupResource, o federation.Object) error {
	u, ok := request.UserFrom(ctx)
	if !ok {
		return apierrors.NewForbidden(resource, o.GetName(), fmt.Errorf("no user to record as the deleter"))
	}
	if err := access.RefuseUnimpersonable(u, resource, o.GetName(), actor, true); err != nil {
		return err
	}
	if access.SystemActor(u) {
		// The namespace controller or the garbage collector: the clean-up acts as the last
		// requester, whose rights were checked when they asked.
		return nil
	}
	spec, _ := o.Parts()
	verb, what := cleanupVerb(spec.DeletionPolicy)
	for _, c := range appliedOn(o) {
		if err := access.UseCluster(ctx, g.Authorizer, resource, o.GetName(), c, verb, what+" on", actor); err != nil {
			return err
		}
	}
	return nil
}

// cleanupVerb is the proxy right a clean-up needs: a delete, or the write that takes our
// label off an orphan.
func cleanupVerb(p federation.DeletionPolicy) (verb, what string) {
	if p == federation.DeletionPolicyOrphan {
		return "create", "orphan the object"
	}
	return "delete", "delete the object"
}

// appliedOn lists the clusters whose rows show something applied.
func appliedOn(o federation.Object) []string {
	_, status := o.Parts()
	var out []string
	for _, c := range status.Clusters {
		if c.Applied || c.AppliedGeneration > 0 {
			out = append(out, c.Cluster)
		}
	}
	return out
}

// Placed returns the clusters o selects now: its placement, or, for a FederatedObject
// without one, the placement of its namespace's ClusterFederatedObject (none if there is
// none).
func (g Guard) Placed(o federation.Object) ([]string, error) {
	spec, _ := o.Parts()
	p := spec.Placement
	if p == nil {
		ns := g.namespacePlacement(o.GetNamespace())
		if ns == nil {
			return nil, nil
		}
		p = ns
	}
	if g.Clusters == nil && len(p.Clusters) == 0 {
		return nil, apierrors.NewServiceUnavailable("the Cluster cache is not available to resolve spec.placement.clusterSelector")
	}
	names, err := placement.Select(p.Clusters, p.ClusterSelector, g.Clusters)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("spec.placement: %v", err))
	}
	return names, nil
}

// admitNamespace checks a ClusterFederatedObject of a Namespace, which decides where the
// objects of that host namespace go: only one may place a namespace, and making it needs the
// right to place objects from that namespace.
func (g Guard) admitNamespace(ctx context.Context, resource schema.GroupResource, o federation.Object) error {
	if o.GetNamespace() != "" {
		return nil
	}
	spec, _ := o.Parts()
	gvk, ns, _, err := validation.Template(spec.Template.Raw)
	if err != nil || gvk.Group != "" || gvk.Kind != "Namespace" {
		return nil
	}
	if other := g.namespaceObject(ns); other != nil && other.Name != o.GetName() {
		return apierrors.NewConflict(resource, o.GetName(), fmt.Errorf("namespace %s is placed by ClusterFederatedObject %s already: change that one", ns, other.Name))
	}
	attrs := authorizer.AttributesRecord{Verb: "create", APIGroup: federation.GroupName, APIVersion: "v1alpha1",
		Resource: "federatedobjects", Namespace: ns, ResourceRequest: true}
	return access.Require(ctx, g.Authorizer, resource, o.GetName(), attrs, func(user string) string {
		return fmt.Sprintf("placing namespace %s decides where the federated objects of host namespace %s go: user %q may not create federatedobjects in namespace %q",
			ns, ns, user, ns)
	})
}

// namespacePlacement is the placement of the ClusterFederatedObject whose template is the
// Namespace ns.
func (g Guard) namespacePlacement(ns string) *federation.Placement {
	c := g.namespaceObject(ns)
	if c == nil || c.Spec.Placement == nil {
		return nil
	}
	return &federation.Placement{Clusters: c.Spec.Placement.Clusters, ClusterSelector: c.Spec.Placement.ClusterSelector}
}

// namespaceObject is the ClusterFederatedObject that places Namespace ns: the oldest, should
// two ever exist.
func (g Guard) namespaceObject(ns string) *federationv1alpha1.ClusterFederatedObject {
	if g.Namespaces == nil || ns == "" {
		return nil
	}
	all, err := g.Namespaces.List(labels.Everything())
	if err != nil {
		return nil
	}
	return placement.NamespaceObject(all, ns)
}
