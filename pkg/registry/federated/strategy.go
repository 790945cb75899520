// Package federated is the REST storage of FederatedObjects and ClusterFederatedObjects: who
// last changed spec is recorded by the server (never by the client), a new object carries
// the clean-up finalizer, and a write that would have federation act on a cluster needs the
// requester's own right to use that cluster (admission.go).
package federated

import (
	"context"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"kubesphere.io/multicluster/apis/federation"
	"kubesphere.io/multicluster/apis/federation/validation"
	"kubesphere.io/multicluster/pkg/registry/access"
	"kubesphere.io/multicluster/pkg/registry/specstatus"
)

// strategy governs writes to the main resource of one of the two kinds: users own spec
// and metadata; the server owns who asked.
type strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
	specstatus.Defaults
	namespaced bool
}

func newStrategy(typer runtime.ObjectTyper, namespaced bool) strategy {
	return strategy{ObjectTyper: typer, NameGenerator: names.SimpleNameGenerator,
		Defaults: specstatus.Defaults{GroupVersion: federation.GroupName + "/v1alpha1"}, namespaced: namespaced}
}

func (s strategy) NamespaceScoped() bool { return s.namespaced }

func (strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	o := obj.(federation.Object)
	_, status := o.Parts()
	*status = federation.FederatedStatus{}
	o.SetGeneration(1)
	record(ctx, status)
	if !slices.Contains(o.GetFinalizers(), federation.CleanupFinalizer) {
		o.SetFinalizers(append(o.GetFinalizers(), federation.CleanupFinalizer))
	}
}

func (strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	n, o := obj.(federation.Object), old.(federation.Object)
	newSpec, newStatus := n.Parts()
	oldSpec, oldStatus := o.Parts()
	*newStatus = *oldStatus.DeepCopy()
	if specChanged(newSpec, oldSpec) {
		n.SetGeneration(o.GetGeneration() + 1)
		record(ctx, newStatus)
	}
}

// record makes the requesting user the one federation acts as. No one may impersonate
// system:masters: admission refuses such a user every write that acts.
func record(ctx context.Context, status *federation.FederatedStatus) {
	u, ok := request.UserFrom(ctx)
	if !ok || slices.Contains(u.GetGroups(), user.SystemPrivilegedGroup) || access.SystemActor(u) {
		return
	}
	status.Requester = federation.Requester{Username: u.GetName(), UID: u.GetUID()}
	if g := u.GetGroups(); len(g) > 0 {
		status.Requester.Groups = slices.Clone(g)
	}
	if e := u.GetExtra(); len(e) > 0 {
		status.Requester.Extra = make(map[string][]string, len(e))
		for k, v := range e {
			status.Requester.Extra[k] = slices.Clone(v)
		}
	}
}

func (s strategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	return validation.ValidateObject(obj.(federation.Object), s.namespaced)
}

func (s strategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateObjectUpdate(obj.(federation.Object), old.(federation.Object), s.namespaced)
}

// statusStrategy governs the status subresource: the controller owns the rows, and who
// asked stays the server's.
type statusStrategy struct{ strategy }

func (s statusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return s.StatusResetFields()
}

func (statusStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	n, o := obj.(federation.Object), old.(federation.Object)
	newSpec, newStatus := n.Parts()
	oldSpec, oldStatus := o.Parts()
	*newSpec = *oldSpec.DeepCopy()
	n.SetLabels(o.GetLabels())
	n.SetAnnotations(o.GetAnnotations())
	newStatus.Requester = *oldStatus.Requester.DeepCopy()
}

func (statusStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateStatusUpdate(obj.(federation.Object), old.(federation.Object))
}

// getAttrs returns the labels and fields lists and watches filter by: the template's kind
// and name besides metadata.
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	o, ok := obj.(federation.Object)
	if !ok {
		return nil, nil, fmt.Errorf("not a federated object: %T", obj)
	}
	fs := generic.AddObjectMetaFieldsSet(fields.Set{}, objectMeta(o), o.GetNamespace() != "")
	spec, _ := o.Parts()
	if gvk, name, _, err := validation.Template(spec.Template.Raw); err == nil {
		fs["spec.template.kind"], fs["spec.template.metadata.name"] = gvk.Kind, name
	}
	return o.GetLabels(), fs, nil
}

func objectMeta(o federation.Object) *metav1.ObjectMeta {
	switch v := o.(type) {
	case *federation.FederatedObject:
		return &v.ObjectMeta
	case *federation.ClusterFederatedObject:
		return &v.ObjectMeta
	}
	return &metav1.ObjectMeta{Name: o.GetName(), Namespace: o.GetNamespace()}
}

func match(label labels.Selector, field fields.Selector) storage.SelectionPredicate {
	return storage.SelectionPredicate{Label: label, Field: field, GetAttrs: getAttrs}
}
