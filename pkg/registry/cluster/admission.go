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
	"k8s.io/apiserver/pkg/registry/rest"

	"kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/pkg/registry/access"
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
	Authorizer access.Authorizer
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
	resource := clusters.Resource("clusters")
	if connectionChanged {
		if err := access.ReadSecret(ctx, g.Authorizer, resource, c.Name, ref.Namespace, ref.Name); err != nil {
			return err
		}
	}
	if isHost != wasHost {
		attrs := authorizer.AttributesRecord{Verb: DesignateHostVerb, APIGroup: clusters.GroupName, APIVersion: "v1alpha1",
			Resource: "clusters", Name: c.Name, ResourceRequest: true}
		if err := access.Require(ctx, g.Authorizer, resource, c.Name, attrs, func(user string) string {
			return fmt.Sprintf("adding or removing the label %s needs the verb %q on clusters %q, which user %q lacks: the host Cluster is designated by the host admin only",
				clusters.HostClusterLabel, DesignateHostVerb, c.Name, user)
		}); err != nil {
			return err
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
	return r.Store.Create(ctx, obj, access.OnCreate(createValidation, r.guard.admit), options)
}

// Update admits the Cluster as it will be stored after the caller's own admission, and a
// Cluster that an update creates (server-side apply of a new one) as Create does.
func (r *REST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return r.Store.Update(ctx, name, objInfo, access.OnCreate(createValidation, r.guard.admit),
		access.OnUpdate(updateValidation, r.guard.admit), forceAllowCreate, options)
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
