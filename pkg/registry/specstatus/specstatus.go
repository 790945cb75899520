// Package specstatus holds what the storage of every kind of ours shares: users own spec
// and metadata through the main resource, controllers own status through the status
// subresource, and objects are cluster-scoped. A kind's own strategy embeds Defaults and
// adds preparing and validating; its status subresource is a StatusREST.
package specstatus

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// Defaults are the strategy methods every kind answers alike: cluster-scoped, no
// warnings, no canonical form, no create on update, updates without a resourceVersion.
type Defaults struct{}

func (Defaults) NamespaceScoped() bool                                     { return false }
func (Defaults) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }
func (Defaults) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}
func (Defaults) Canonicalize(runtime.Object)                   {}
func (Defaults) AllowCreateOnUpdate(context.Context) bool      { return false }
func (Defaults) AllowUnconditionalUpdate(context.Context) bool { return true }

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
