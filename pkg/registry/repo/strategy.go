// Package repo is the REST storage of the App Store's Repos: how Repo objects and their
// status are prepared, validated, admitted (a Repo that names a credentials Secret needs
// the right to read it, as a Cluster does) and printed.
package repo

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

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/validation"
	"kubesphere.io/multicluster/pkg/registry/specstatus"
)

// strategy governs writes to the main resource: users own spec and metadata.
type strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
	specstatus.Defaults
}

func newStrategy(typer runtime.ObjectTyper) strategy {
	return strategy{ObjectTyper: typer, NameGenerator: names.SimpleNameGenerator,
		Defaults: specstatus.Defaults{GroupVersion: appstore.SchemeGroupVersion.String()}}
}

func (strategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	r := obj.(*appstore.Repo)
	specstatus.PrepareCreate(&r.ObjectMeta, &r.Status)
}

func (strategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	newR, oldR := obj.(*appstore.Repo), old.(*appstore.Repo)
	specstatus.PrepareUpdate(&newR.ObjectMeta, &oldR.ObjectMeta, &newR.Spec, &oldR.Spec, &newR.Status, &oldR.Status)
}

func (strategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	return validation.ValidateRepo(obj.(*appstore.Repo))
}

func (strategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateRepoUpdate(obj.(*appstore.Repo), old.(*appstore.Repo))
}

// statusStrategy governs repos/status: the syncers own status only.
type statusStrategy struct{ strategy }

func (s statusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return s.StatusResetFields()
}

func (statusStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	newR, oldR := obj.(*appstore.Repo), old.(*appstore.Repo)
	specstatus.PrepareStatusUpdate(&newR.ObjectMeta, &oldR.ObjectMeta, &newR.Spec, &oldR.Spec)
}

func (statusStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateRepoStatusUpdate(obj.(*appstore.Repo), old.(*appstore.Repo))
}

// getAttrs returns the labels and fields lists and watches filter by.
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	r, ok := obj.(*appstore.Repo)
	if !ok {
		return nil, nil, fmt.Errorf("not a Repo: %T", obj)
	}
	return r.Labels, generic.ObjectMetaFieldsSet(&r.ObjectMeta, false), nil
}

func match(label labels.Selector, field fields.Selector) storage.SelectionPredicate {
	return storage.SelectionPredicate{Label: label, Field: field, GetAttrs: getAttrs}
}
