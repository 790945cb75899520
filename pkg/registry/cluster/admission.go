package cluster

import (
	"context"
	"fmt"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"kubesphere.io/multicluster/apis/clusters"
)

// DesignateHostVerb is the permission on clusters (resourceName: the Cluster) that adding
// or removing the host label needs: the host Cluster is special to every component, and
// plain update of clusters must not make one.
const DesignateHostVerb = "designate-host"

// Guard is the admission of Cluster writes: what validation cannot see because it needs
// the requesting user or the other Clusters. It runs inside the storage's create and
// update, on the object as it will be stored (after a patch was applied).
type Guard struct {
	// Authorizer decides SubjectAccessReviews for the requesting user (the server's own
	// authorizer: agents locally, everyone else by the host). Without one, every write
	// that needs a decision is refused.
	Authorizer interface {
		Authorize(context.Context, authorizer.Attributes) (authorizer.Decision, string, error)
	}
	// list returns every stored Cluster.
	list func(context.Context) ([]clusters.Cluster, error)
}

// admit checks a create (old nil) or an update:
//   - a Cluster that names a credentials Secret, or changes where its credentials are sent
//     (the Secret, endpoint, CA or connection type), needs the requester's right to get
//     that Secret on the host: otherwise a user who may edit Clusters could reach a member
//     with credentials they cannot read, or send them to an address of their choosing;
//   - one Secret backs at most one Cluster;
//   - at most one Cluster carries the host label, and adding or removing it needs
//     DesignateHostVerb.
func (g Guard) admit(ctx context.Context, obj, old runtime.Object) error {
	c := obj.(*clusters.Cluster)
	var prev *clusters.Cluster
	if old != nil {
		prev = old.(*clusters.Cluster)
	}
	ref := c.Spec.Connection.CredentialsSecretRef
	connectionChanged := ref != nil && (prev == nil || !apiequality.Semantic.DeepEqual(c.Spec.Connection, prev.Spec.Connection))
	_, isHost := c.Labels[clusters.HostClusterLabel]
	wasHost := false
	if prev != nil {
		_, wasHost = prev.Labels[clusters.HostClusterLabel]
	}
	if !connectionChanged && isHost == wasHost {
		// Nothing this guards moved: finalizers, other labels, provider and region stay
		// writable even for Clusters that predate these checks.
		return nil
	}
	u, ok := request.UserFrom(ctx)
	if !ok || g.Authorizer == nil {
		return apierrors.NewForbidden(clusters.Resource("clusters"), c.Name, fmt.Errorf("no user or no authorizer to decide this write"))
	}
	if connectionChanged {
		attrs := authorizer.AttributesRecord{User: u, Verb: "get", APIVersion: "v1", Resource: "secrets",
			Namespace: ref.Namespace, Name: ref.Name, ResourceRequest: true}
		if decision, reason, err := g.Authorizer.Authorize(ctx, attrs); decision != authorizer.DecisionAllow {
			why := fmt.Sprintf("naming credentials Secret %s/%s (or changing where its credentials are sent) needs the right to read it: "+
				"user %q may not get secrets %q in namespace %q", ref.Namespace, ref.Name, u.GetName(), ref.Name, ref.Namespace)
			if reason != "" {
				why += ": " + reason
			}
			if err != nil {
				why += fmt.Sprintf(" (%v)", err)
			}
			return apierrors.NewForbidden(clusters.Resource("clusters"), c.Name, fmt.Errorf("%s", why))
		}
	}
	if isHost != wasHost {
		attrs := authorizer.AttributesRecord{User: u, Verb: DesignateHostVerb, APIGroup: clusters.GroupName, APIVersion: "v1alpha1",
			Resource: "clusters", Name: c.Name, ResourceRequest: true}
		if decision, reason, err := g.Authorizer.Authorize(ctx, attrs); decision != authorizer.DecisionAllow {
			why := fmt.Sprintf("adding or removing the label %s needs the verb %q on clusters %q, which user %q lacks: the host Cluster is designated by the host admin only",
				clusters.HostClusterLabel, DesignateHostVerb, c.Name, u.GetName())
			if reason != "" {
				why += ": " + reason
			}
			if err != nil {
				why += fmt.Sprintf(" (%v)", err)
			}
			return apierrors.NewForbidden(clusters.Resource("clusters"), c.Name, fmt.Errorf("%s", why))
		}
	}
	// Uniqueness is checked for what this write adds: a new Secret reference, a new host.
	checkSecret := connectionChanged && (prev == nil || prev.Spec.Connection.CredentialsSecretRef == nil || *prev.Spec.Connection.CredentialsSecretRef != *ref)
	checkHost := isHost && !wasHost
	if !checkSecret && !checkHost {
		return nil
	}
	all, err := g.list(ctx)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	var errs field.ErrorList
	for i := range all {
		other := &all[i]
		if other.Name == c.Name {
			continue
		}
		if o := other.Spec.Connection.CredentialsSecretRef; checkSecret && o != nil && *o == *ref {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "connection", "credentialsSecretRef"), fmt.Sprintf(
				"Secret %s/%s already backs Cluster %q: one Secret backs at most one Cluster; give this one its own", ref.Namespace, ref.Name, other.Name)))
		}
		if _, ok := other.Labels[clusters.HostClusterLabel]; ok && checkHost {
			errs = append(errs, field.Forbidden(field.NewPath("metadata", "labels").Key(clusters.HostClusterLabel), fmt.Sprintf(
				"Cluster %q is already the host: at most one Cluster carries this label", other.Name)))
		}
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Group: clusters.GroupName, Kind: "Cluster"}, c.Name, errs)
	}
	return nil
}

// Create admits the new Cluster after the caller's own admission.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	return r.Store.Create(ctx, obj, r.admitCreate(createValidation), options)
}

// Update admits the Cluster as it will be stored after the caller's own admission, and a
// Cluster that an update creates (server-side apply of a new one) as Create does.
func (r *REST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return r.Store.Update(ctx, name, objInfo, r.admitCreate(createValidation), func(ctx context.Context, obj, old runtime.Object) error {
		if updateValidation != nil {
			if err := updateValidation(ctx, obj, old); err != nil {
				return err
			}
		}
		return r.guard.admit(ctx, obj, old)
	}, forceAllowCreate, options)
}

func (r *REST) admitCreate(createValidation rest.ValidateObjectFunc) rest.ValidateObjectFunc {
	return func(ctx context.Context, obj runtime.Object) error {
		if createValidation != nil {
			if err := createValidation(ctx, obj); err != nil {
				return err
			}
		}
		return r.guard.admit(ctx, obj, nil)
	}
}

// storedClusters lists every Cluster from the store's watch cache.
func storedClusters(r *REST) func(context.Context) ([]clusters.Cluster, error) {
	return func(ctx context.Context) ([]clusters.Cluster, error) {
		obj, err := r.Store.List(ctx, &metainternalversion.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return nil, err
		}
		return obj.(*clusters.ClusterList).Items, nil
	}
}
