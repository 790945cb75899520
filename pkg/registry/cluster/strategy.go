package cluster

import (
	"context"
	"fmt"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
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
	return clusterStrategy{ObjectTyper: typer, NameGenerator: names.SimpleNameGenerator}
}

// GetResetFields tells server-side apply that status is not the main resource's to set.
func (clusterStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return specstatus.MainResetFields("clusters.kubesphere.io/v1alpha1")
}

func (clusterStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	c := obj.(*clusters.Cluster)
	c.Status = clusters.ClusterStatus{}
	c.Generation = 1
}

func (clusterStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	newC, oldC := obj.(*clusters.Cluster), old.(*clusters.Cluster)
	// A status sent through the main resource is ignored, as Kubernetes does.
	newC.Status = oldC.Status
	if !apiequality.Semantic.DeepEqual(newC.Spec, oldC.Spec) {
		newC.Generation = oldC.Generation + 1
	}
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

func (statusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return specstatus.StatusResetFields("clusters.kubesphere.io/v1alpha1")
}

func (statusStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	newC, oldC := obj.(*clusters.Cluster), old.(*clusters.Cluster)
	newC.Spec = oldC.Spec
	// Labels and annotations belong to the main resource, as for core resources' status.
	newC.Labels = oldC.Labels
	newC.Annotations = oldC.Annotations
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
