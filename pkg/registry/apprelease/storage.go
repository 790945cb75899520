package apprelease

import (
	"context"

	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/pkg/registry/access"
	"kubesphere.io/multicluster/pkg/registry/specstatus"
)

// REST is the etcd-backed storage of applicationreleases.
type REST struct {
	*genericregistry.Store
	guard Guard
}

// Categories lets `kubectl get kubesphere` and `kubectl get appstore` list releases.
func (*REST) Categories() []string { return []string{"kubesphere", "appstore"} }

// Create admits the new release after the caller's own admission.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	return r.Store.Create(ctx, obj, access.OnCreate(createValidation, r.guard.admit), options)
}

// Update admits the release as it will be stored, and one that an update creates
// (server-side apply of a new one) as Create does.
func (r *REST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return r.Store.Update(ctx, name, objInfo, access.OnCreate(createValidation, r.guard.admit),
		access.OnUpdate(updateValidation, r.guard.admit), forceAllowCreate, options)
}

// Delete admits the deleter for every cluster the release is on, and records them as the
// requester the uninstall acts as.
func (r *REST) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	return r.Store.Delete(ctx, name, r.admitDelete(deleteValidation), options)
}

// DeleteCollection deletes each release as Delete does: the generic store deletes item by
// item with the validation it is given, so no bulk delete skips the uninstall's admission.
func (r *REST) DeleteCollection(ctx context.Context, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions, listOptions *metainternalversion.ListOptions) (runtime.Object, error) {
	return r.Store.DeleteCollection(ctx, r.admitDelete(deleteValidation), options, listOptions)
}

// admitDelete wraps the caller's delete validation. The generic store calls it on the very
// object its deletion update writes (the finalizer makes every first delete such an
// update), so the deleter is recorded exactly when the deletion is, in the same write.
func (r *REST) admitDelete(deleteValidation rest.ValidateObjectFunc) rest.ValidateObjectFunc {
	return func(ctx context.Context, obj runtime.Object) error {
		if deleteValidation != nil {
			if err := deleteValidation(ctx, obj); err != nil {
				return err
			}
		}
		rel := obj.(*appstore.ApplicationRelease)
		if err := r.guard.admitDelete(ctx, rel); err != nil {
			return err
		}
		if rel.DeletionTimestamp == nil {
			record(ctx, rel, appstore.RequestActionDelete)
		}
		return nil
	}
}

// NewStorage returns the storage of applicationreleases and their status; writes to the
// main resource are admitted by guard.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, guard Guard) (*REST, *specstatus.StatusREST, error) {
	s := newStrategy(scheme)
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &appstore.ApplicationRelease{} },
		NewListFunc:               func() runtime.Object { return &appstore.ApplicationReleaseList{} },
		PredicateFunc:             match,
		DefaultQualifiedResource:  resource,
		SingularQualifiedResource: appstore.Resource("applicationrelease"),

		CreateStrategy:      s,
		UpdateStrategy:      s,
		DeleteStrategy:      s,
		ResetFieldsStrategy: s,
		TableConvertor:      tableConvertor{},
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: getAttrs}); err != nil {
		return nil, nil, err
	}
	statusStore := *store
	status := statusStrategy{s}
	statusStore.UpdateStrategy = status
	statusStore.ResetFieldsStrategy = status
	return &REST{Store: store, guard: guard}, &specstatus.StatusREST{Store: &statusStore}, nil
}

var _ rest.CategoriesProvider = &REST{}
