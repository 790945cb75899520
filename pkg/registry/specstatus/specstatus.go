// Package specstatus holds what the storage of every kind of ours shares: users own spec
// and metadata through the main resource, controllers own status through the status
// subresource, and objects are cluster-scoped. A kind's own strategy embeds Defaults and
// adds preparing (with PrepareCreate, PrepareUpdate and PrepareStatusUpdate) and
// validating; Complete finishes its store and returns its status subresource.
package specstatus

import (
	"context"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// Defaults are the strategy methods every kind answers alike: cluster-scoped, no
// warnings, no canonical form, no create on update, updates without a resourceVersion,
// and status not the main resource's to set. GroupVersion is the kind's.
type Defaults struct {
	GroupVersion string
}

// GetResetFields tells server-side apply that status is not the main resource's to set.
func (d Defaults) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return MainResetFields(d.GroupVersion)
}

// StatusResetFields is the status strategy's GetResetFields.
func (d Defaults) StatusResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return StatusResetFields(d.GroupVersion)
}

func (Defaults) NamespaceScoped() bool                                     { return false }
func (Defaults) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }
func (Defaults) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}
func (Defaults) Canonicalize(runtime.Object)                   {}
func (Defaults) AllowCreateOnUpdate(context.Context) bool      { return false }
func (Defaults) AllowUnconditionalUpdate(context.Context) bool { return true }

// PrepareCreate starts a new object at generation 1 with no status: status is its
// controllers'.
func PrepareCreate[Status any](m *metav1.ObjectMeta, status *Status) {
	var none Status
	*status = none
	m.Generation = 1
}

// PrepareUpdate prepares a main-resource update: a status sent through it is ignored, as
// Kubernetes does, and a change of spec is a new generation.
func PrepareUpdate[Spec, Status any](newM, oldM *metav1.ObjectMeta, newSpec, oldSpec *Spec, newStatus, oldStatus *Status) {
	*newStatus = *oldStatus
	if !apiequality.Semantic.DeepEqual(*newSpec, *oldSpec) {
		newM.Generation = oldM.Generation + 1
	}
}

// PrepareStatusUpdate prepares a status write: spec, labels and annotations stay the main
// resource's, as for core resources' status.
func PrepareStatusUpdate[Spec any](newM, oldM *metav1.ObjectMeta, newSpec, oldSpec *Spec) {
	*newSpec = *oldSpec
	newM.Labels = oldM.Labels
	newM.Annotations = oldM.Annotations
}

// Strategy is a kind's main strategy: it creates, updates and deletes.
type Strategy interface {
	rest.RESTCreateStrategy
	rest.RESTUpdateStrategy
	rest.RESTDeleteStrategy
	rest.ResetFieldsStrategy
}

// StatusStrategy is a kind's status strategy.
type StatusStrategy interface {
	rest.RESTUpdateStrategy
	rest.ResetFieldsStrategy
}

// Complete gives store its strategies and completes it, with attrs for selectors; the
// status subresource it returns writes through a copy of store that updates with status.
func Complete(store *genericregistry.Store, optsGetter generic.RESTOptionsGetter, attrs storage.AttrFunc, main Strategy, status StatusStrategy) (*StatusREST, error) {
	store.CreateStrategy, store.UpdateStrategy, store.DeleteStrategy, store.ResetFieldsStrategy = main, main, main, main
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: attrs}); err != nil {
		return nil, err
	}
	statusStore := *store
	statusStore.UpdateStrategy, statusStore.ResetFieldsStrategy = status, status
	return &StatusREST{Store: &statusStore}, nil
}

// MainResetFields tells server-side apply that status is not the main resource's to set.
func MainResetFields(groupVersion string) map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(groupVersion): fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}

// StatusResetFields tells server-side apply that spec, labels and annotations are not the
// status subresource's to set (as for core resources' status).
func StatusResetFields(groupVersion string) map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(groupVersion): fieldpath.NewSet(
			fieldpath.MakePathOrDie("spec"),
			fieldpath.MakePathOrDie("metadata", "labels"),
			fieldpath.MakePathOrDie("metadata", "annotations"),
		),
	}
}

// StatusREST is the status subresource over a copy of the main resource's store whose
// update strategy keeps everything but status.
type StatusREST struct {
	Store *genericregistry.Store
}

var _ rest.Patcher = &StatusREST{}

// New returns an empty object of the kind.
func (r *StatusREST) New() runtime.Object { return r.Store.NewFunc() }

// Destroy is a no-op: the main resource owns the storage.
func (r *StatusREST) Destroy() {}

// Get returns the object, so that `kubectl get --subresource=status` works.
func (r *StatusREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return r.Store.Get(ctx, name, options)
}

// Update writes only the status; it never creates: a missing object is a 404.
func (r *StatusREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, _ bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return r.Store.Update(ctx, name, objInfo, createValidation, updateValidation, false, options)
}

// GetResetFields tells server-side apply which fields a status write may not set.
func (r *StatusREST) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return r.Store.GetResetFields()
}

// ConvertToTable prints the object as the main resource does.
func (r *StatusREST) ConvertToTable(ctx context.Context, obj runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return r.Store.ConvertToTable(ctx, obj, tableOptions)
}
