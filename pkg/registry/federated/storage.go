package federated

import (
	"context"

	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"kubesphere.io/multicluster/apis/federation"
	"kubesphere.io/multicluster/pkg/registry/access"
	"kubesphere.io/multicluster/pkg/registry/specstatus"
)

// REST is the etcd-backed storage of one of the two kinds.
type REST struct {
	access.Admitted
	guard    Guard
	resource schema.GroupResource
}

// Categories lets `kubectl get kubesphere` and `kubectl get federation` list them.
func (*REST) Categories() []string { return []string{"kubesphere", "federation"} }

// ShortNames: `kubectl get fo` and `kubectl get cfo`.
func (r *REST) ShortNames() []string {
	if r.resource.Resource == "federatedobjects" {
		return []string{"fo"}
	}
	return []string{"cfo"}
}

// Delete admits the deleter for every cluster the object was applied on: the clean-up
// acts as them.
func (r *REST) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	return r.Store.Delete(ctx, name, r.admitDelete(deleteValidation), options)
}

// DeleteCollection deletes each object as Delete does.
func (r *REST) DeleteCollection(ctx context.Context, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions, listOptions *metainternalversion.ListOptions) (runtime.Object, error) {
	return r.Store.DeleteCollection(ctx, r.admitDelete(deleteValidation), options, listOptions)
}

// admitDelete wraps the caller's validation; the generic store calls it on the object its
// deletion update writes (the finalizer makes every first delete one), so the deleter is
// recorded as the requester in the same write.
func (r *REST) admitDelete(deleteValidation rest.ValidateObjectFunc) rest.ValidateObjectFunc {
	return func(ctx context.Context, obj runtime.Object) error {
		if deleteValidation != nil {
			if err := deleteValidation(ctx, obj); err != nil {
				return err
			}
		}
		o := obj.(federation.Object)
		if err := r.guard.admitDelete(ctx, r.resource, o); err != nil {
			return err
		}
		if o.GetDeletionTimestamp() == nil {
			_, status := o.Parts()
			record(ctx, status)
		}
		return nil
	}
}

// NewStorage returns the storage of federatedobjects and clusterfederatedobjects and their
// status subresources; writes to the main resources are admitted by guard.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, guard Guard) (namespaced, cluster *REST, namespacedStatus, clusterStatus *specstatus.StatusREST, err error) {
	mk := func(resource, singular string, isNamespaced bool, newFunc, newList func() runtime.Object, table rest.TableConvertor) (*REST, *specstatus.StatusREST, error) {
		gr := federation.Resource(resource)
		s := newStrategy(scheme, isNamespaced)
		store := &genericregistry.Store{
			NewFunc: newFunc, NewListFunc: newList, PredicateFunc: match,
			DefaultQualifiedResource: gr, SingularQualifiedResource: federation.Resource(singular),
			TableConvertor: table,
		}
		status, err := specstatus.Complete(store, optsGetter, getAttrs, s, statusStrategy{s})
		if err != nil {
			return nil, nil, err
		}
		return &REST{Admitted: access.Admitted{Store: store, Admit: guard.admit(gr)}, guard: guard, resource: gr}, status, nil
	}
	namespaced, namespacedStatus, err = mk("federatedobjects", "federatedobject", true,
		func() runtime.Object { return &federation.FederatedObject{} }, func() runtime.Object { return &federation.FederatedObjectList{} }, namespacedTable)
	if err != nil {
		return
	}
	cluster, clusterStatus, err = mk("clusterfederatedobjects", "clusterfederatedobject", false,
		func() runtime.Object { return &federation.ClusterFederatedObject{} }, func() runtime.Object { return &federation.ClusterFederatedObjectList{} }, clusterTable)
	return
}

var (
	_ rest.CategoriesProvider = &REST{}
	_ rest.ShortNamesProvider = &REST{}
)
