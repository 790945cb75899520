package repo

import (
	"context"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/pkg/registry/access"
	"kubesphere.io/multicluster/pkg/registry/specstatus"
)

// Guard is the admission of Repo writes that validation cannot decide: a Repo that names a
// credentials Secret, or changes where that Secret's credentials are sent (URL, CA), needs
// the requester's right to read the Secret, or a user who may edit Repos could send
// credentials they cannot read to a server of their choosing.
type Guard struct {
	// Authorizer decides for the requesting user; without one such writes are refused.
	Authorizer access.Authorizer
	// CredentialsNamespace holds the Secrets Repos name.
	CredentialsNamespace string
}

func (g Guard) admit(ctx context.Context, obj, old runtime.Object) error {
	r := obj.(*appstore.Repo)
	ref := r.Spec.CredentialsSecretRef
	if ref == nil {
		return nil
	}
	if old != nil {
		prev := old.(*appstore.Repo)
		if apiequality.Semantic.DeepEqual(prev.Spec.CredentialsSecretRef, ref) && prev.Spec.URL == r.Spec.URL &&
			string(prev.Spec.CABundle) == string(r.Spec.CABundle) {
			return nil
		}
	}
	return access.ReadSecret(ctx, g.Authorizer, appstore.Resource("repos"), r.Name, g.CredentialsNamespace, ref.Name)
}

// REST is the etcd-backed storage of repos.
type REST struct {
	*genericregistry.Store
	guard Guard
}

// Categories lets `kubectl get kubesphere` and `kubectl get appstore` list Repos.
func (*REST) Categories() []string { return []string{"kubesphere", "appstore"} }

// Create admits the new Repo after the caller's own admission.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	return r.Store.Create(ctx, obj, access.OnCreate(createValidation, r.guard.admit), options)
}

// Update admits the Repo as it will be stored, and one that an update creates (server-side
// apply of a new one) as Create does.
func (r *REST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return r.Store.Update(ctx, name, objInfo, access.OnCreate(createValidation, r.guard.admit),
		access.OnUpdate(updateValidation, r.guard.admit), forceAllowCreate, options)
}

// NewStorage returns the storage of repos and repos/status; writes to repos are admitted
// by guard.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, guard Guard) (*REST, *specstatus.StatusREST, error) {
	s := newStrategy(scheme)
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &appstore.Repo{} },
		NewListFunc:               func() runtime.Object { return &appstore.RepoList{} },
		PredicateFunc:             match,
		DefaultQualifiedResource:  appstore.Resource("repos"),
		SingularQualifiedResource: appstore.Resource("repo"),

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
