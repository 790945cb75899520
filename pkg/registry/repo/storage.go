package repo

import (
	"context"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
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
	access.Admitted
}

// Categories lets `kubectl get kubesphere` and `kubectl get appstore` list Repos.
func (*REST) Categories() []string { return []string{"kubesphere", "appstore"} }

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
		TableConvertor:            tableConvertor,
	}
	status, err := specstatus.Complete(store, optsGetter, getAttrs, s, statusStrategy{s})
	if err != nil {
		return nil, nil, err
	}
	return &REST{Admitted: access.Admitted{Store: store, Admit: guard.admit}}, status, nil
}

var _ rest.CategoriesProvider = &REST{}
