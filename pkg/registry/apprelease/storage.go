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
	access.Admitted
	guard Guard
}

// Categories lets `kubectl get kubesphere` and `kubectl get appstore` list releases.
func (*REST) Categories() []string { return []string{"kubesphere", "appstore"} }

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
		TableConvertor:            tableConvertor,
	}
	status, err := specstatus.Complete(store, optsGetter, getAttrs, s, statusStrategy{s})
	if err != nil {
		return nil, nil, err
	}
	return &REST{Admitted: access.Admitted{Store: store, Admit: guard.admit}, guard: guard}, status, nil
}

var _ rest.CategoriesProvider = &REST{}
