package cluster

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/apis/clusters/validation"
	"kubesphere.io/multicluster/pkg/registry/specstatus"
)

// clusterStrategy governs writes to the main resource: users own spec and metadata.
type clusterStrategy struct {
	runtime.ObjectTyper
	names.NameGenerator
	specstatus.Defaults
}

// NewStrategy returns the strategy of the main clusters resource.
func NewStrategy(typer runtime.ObjectTyper) clusterStrategy {
	return clusterStrategy{ObjectTyper: typer, NameGenerator: names.SimpleNameGenerator,
		Defaults: specstatus.Defaults{GroupVersion: "clusters.kubesphere.io/v1alpha1"}}
}

func (clusterStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	c := obj.(*clusters.Cluster)
	specstatus.PrepareCreate(&c.ObjectMeta, &c.Status)
}

func (clusterStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	newC, oldC := obj.(*clusters.Cluster), old.(*clusters.Cluster)
	specstatus.PrepareUpdate(&newC.ObjectMeta, &oldC.ObjectMeta, &newC.Spec, &oldC.Spec, &newC.Status, &oldC.Status)
}

func (clusterStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	return validation.ValidateCluster(obj.(*clusters.Cluster))
}

func (clusterStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateClusterUpdate(obj.(*clusters.Cluster), old.(*clusters.Cluster))
}

// statusStrategy governs the status subresource: the controller owns status only.
type statusStrategy struct {
	clusterStrategy
}

// NewStatusStrategy returns the strategy of clusters/status.
func NewStatusStrategy(s clusterStrategy) statusStrategy { return statusStrategy{s} }

func (s statusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return s.StatusResetFields()
}

func (statusStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	newC, oldC := obj.(*clusters.Cluster), old.(*clusters.Cluster)
	specstatus.PrepareStatusUpdate(&newC.ObjectMeta, &oldC.ObjectMeta, &newC.Spec, &oldC.Spec)
}

func (statusStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateClusterStatusUpdate(obj.(*clusters.Cluster), old.(*clusters.Cluster))
}

// SelectableFields are the field selectors clusters support besides metadata.name.
func SelectableFields(c *clusters.Cluster) fields.Set {
	return generic.AddObjectMetaFieldsSet(fields.Set{
		"spec.connection.type": string(c.Spec.Connection.Type),
	}, &c.ObjectMeta, false)
}

// GetAttrs returns the labels and fields used to filter lists and watches.
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	c, ok := obj.(*clusters.Cluster)
	if !ok {
		return nil, nil, fmt.Errorf("not a Cluster: %T", obj)
	}
	return c.Labels, SelectableFields(c), nil
}

// MatchCluster is the filter used by list and watch.
func MatchCluster(label labels.Selector, field fields.Selector) storage.SelectionPredicate {
	return storage.SelectionPredicate{Label: label, Field: field, GetAttrs: GetAttrs}
}
