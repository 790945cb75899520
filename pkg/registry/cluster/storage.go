package cluster

import (
	"context"

	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/pkg/agentidentity"
	"kubesphere.io/multicluster/pkg/registry/specstatus"
)

// REST is the etcd-backed storage of clusters.
type REST struct {
	*genericregistry.Store
	guard Guard
}

// ShortNames lets users type `kubectl get mc`.
func (*REST) ShortNames() []string { return []string{"mc"} }

// Categories lets `kubectl get kubesphere` list clusters with the project's other kinds.
func (*REST) Categories() []string { return []string{"kubesphere"} }

// NewStorage returns the storage of clusters and clusters/status; writes to clusters are
// admitted by guard (see Guard).
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, guard Guard) (*REST, *specstatus.StatusREST, error) {
	strategy := NewStrategy(scheme)
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &clusters.Cluster{} },
		NewListFunc:               func() runtime.Object { return &clusters.ClusterList{} },
		PredicateFunc:             MatchCluster,
		DefaultQualifiedResource:  clusters.Resource("clusters"),
		SingularQualifiedResource: clusters.Resource("cluster"),
		TableConvertor:            tableConvertor,
	}
	status, err := specstatus.Complete(store, optsGetter, GetAttrs, strategy, NewStatusStrategy(strategy))
	if err != nil {
		return nil, nil, err
	}
	r := &REST{Store: store, guard: guard}
	r.guard.list = storedClusters(r)
	return r, status, nil
}

var (
	_ rest.ShortNamesProvider = &REST{}
	_ rest.CategoriesProvider = &REST{}
)

// List narrows an agent identity's list to its own Cluster: an agent sees no other member.
func (r *REST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	return r.Store.List(ctx, onlyOwnCluster(ctx, options))
}

// Watch narrows an agent identity's watch like List.
func (r *REST) Watch(ctx context.Context, options *metainternalversion.ListOptions) (watch.Interface, error) {
	return r.Store.Watch(ctx, onlyOwnCluster(ctx, options))
}

func onlyOwnCluster(ctx context.Context, options *metainternalversion.ListOptions) *metainternalversion.ListOptions {
	u, _ := request.UserFrom(ctx)
	cluster, ok := agentidentity.ClusterOf(u)
	if !ok {
		return options
	}
	out := &metainternalversion.ListOptions{}
	if options != nil {
		out = options.DeepCopy()
	}
	own := fields.OneTermEqualSelector("metadata.name", cluster)
	if out.FieldSelector != nil && !out.FieldSelector.Empty() {
		own = fields.AndSelectors(out.FieldSelector, own)
	}
	out.FieldSelector = own
	return out
}
