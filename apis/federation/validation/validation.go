// Package validation checks federated objects as the API server stores them.
package validation

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"kubesphere.io/multicluster/apis/federation"
)

// MaxTemplateSize bounds a template: it is stored in the object, and etcd's request limit
// is about 1.5 MiB for the whole.
const MaxTemplateSize = 512 << 10

// MaxPatches bounds the patch operations of one cluster's override.
const MaxPatches = 100

// clusterScoped are the kinds known to be cluster-scoped: a FederatedObject cannot place
// them (its template goes into a namespace), a ClusterFederatedObject can.
var clusterScoped = sets.New(
	schema.GroupKind{Kind: "Namespace"}, schema.GroupKind{Kind: "Node"}, schema.GroupKind{Kind: "PersistentVolume"},
	schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"},
	schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"},
	schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"},
	schema.GroupKind{Group: "storage.k8s.io", Kind: "StorageClass"},
	schema.GroupKind{Group: "storage.k8s.io", Kind: "CSIDriver"},
	schema.GroupKind{Group: "scheduling.k8s.io", Kind: "PriorityClass"},
	schema.GroupKind{Group: "networking.k8s.io", Kind: "IngressClass"},
	schema.GroupKind{Group: "node.k8s.io", Kind: "RuntimeClass"},
	schema.GroupKind{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"},
	schema.GroupKind{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"},
	schema.GroupKind{Group: "apiregistration.k8s.io", Kind: "APIService"},
)

// templateHeader is what validation reads of a template.
type templateHeader struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name            string            `json:"name"`
		GenerateName    string            `json:"generateName"`
		Namespace       string            `json:"namespace"`
		ResourceVersion string            `json:"resourceVersion"`
		UID             string            `json:"uid"`
		OwnerReferences []json.RawMessage `json:"ownerReferences"`
		Finalizers      []string          `json:"finalizers"`
		Labels          map[string]string `json:"labels"`
	} `json:"metadata"`
}

// Template reads the kind, name and namespace of a template, for the registry's fields and
// the table.
func Template(raw []byte) (gvk schema.GroupVersionKind, name, namespace string, err error) {
	var h templateHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return gvk, "", "", err
	}
	gv, err := schema.ParseGroupVersion(h.APIVersion)
	if err != nil {
		return gvk, "", "", err
	}
	return gv.WithKind(h.Kind), h.Metadata.Name, h.Metadata.Namespace, nil
}

// ValidateObject checks a new federated object; namespaced says which kind it is.
func ValidateObject(o federation.Object, namespaced bool) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaAccessor(o, namespaced, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	spec, _ := o.Parts()
	return append(allErrs, validateSpec(spec, o.GetNamespace(), namespaced, field.NewPath("spec"))...)
}

// ValidateObjectUpdate checks a change: the template's identity (kind, name) is fixed, as the
// member objects it made are that identity.
func ValidateObjectUpdate(o, old federation.Object, namespaced bool) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaAccessorUpdate(o, old, field.NewPath("metadata"))
	spec, _ := o.Parts()
	oldSpec, _ := old.Parts()
	allErrs = append(allErrs, validateSpec(spec, o.GetNamespace(), namespaced, field.NewPath("spec"))...)
	gvk, name, _, err := Template(spec.Template.Raw)
	oldGVK, oldName, _, oldErr := Template(oldSpec.Template.Raw)
	if err == nil && oldErr == nil && (gvk.GroupKind() != oldGVK.GroupKind() || name != oldName) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "template"),
			fmt.Sprintf("the template's kind and name are immutable (%s %s): make a new federated object for another object", oldGVK.Kind, oldName)))
	}
	return allErrs
}

// ValidateStatusUpdate checks a status write.
func ValidateStatusUpdate(o, old federation.Object) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaAccessorUpdate(o, old, field.NewPath("metadata"))
	_, status := o.Parts()
	fld := field.NewPath("status")
	seen := sets.New[string]()
	for i, c := range status.Clusters {
		p := fld.Child("clusters").Index(i)
		if c.Cluster == "" {
			allErrs = append(allErrs, field.Required(p.Child("cluster"), ""))
		} else if seen.Has(c.Cluster) {
			allErrs = append(allErrs, field.Duplicate(p.Child("cluster"), c.Cluster))
		}
		seen.Insert(c.Cluster)
		if len(c.Message) > 4096 {
			allErrs = append(allErrs, field.TooLong(p.Child("message"), "", 4096))
		}
		if len(c.Drifted) > 50 {
			allErrs = append(allErrs, field.TooMany(p.Child("drifted"), len(c.Drifted), 50))
		}
	}
	return append(allErrs, metav1validation.ValidateConditions(status.Conditions, fld.Child("conditions"))...)
}

func validateSpec(spec *federation.FederatedSpec, namespace string, namespaced bool, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	allErrs = append(allErrs, validateTemplate(spec.Template.Raw, namespace, namespaced, fld.Child("template"))...)
	if p := spec.Placement; p != nil {
		allErrs = append(allErrs, validateClusterNames(p.Clusters, fld.Child("placement", "clusters"))...)
		if p.ClusterSelector != nil {
			allErrs = append(allErrs, metav1validation.ValidateLabelSelector(p.ClusterSelector,
				metav1validation.LabelSelectorValidationOptions{}, fld.Child("placement", "clusterSelector"))...)
		}
	} else if !namespaced {
		allErrs = append(allErrs, field.Required(fld.Child("placement"), "a ClusterFederatedObject has no namespace to follow: name clusters or a clusterSelector"))
	}
	seen := sets.New[string]()
	for i, o := range spec.Overrides {
		p := fld.Child("overrides").Index(i)
		for _, msg := range validation.IsDNS1123Subdomain(o.Cluster) {
			allErrs = append(allErrs, field.Invalid(p.Child("cluster"), o.Cluster, msg))
		}
		if seen.Has(o.Cluster) {
			allErrs = append(allErrs, field.Duplicate(p.Child("cluster"), o.Cluster))
		}
		seen.Insert(o.Cluster)
		if len(o.Patches) > MaxPatches {
			allErrs = append(allErrs, field.TooMany(p.Child("patches"), len(o.Patches), MaxPatches))
		}
		for j, op := range o.Patches {
			allErrs = append(allErrs, validatePatch(op, p.Child("patches").Index(j))...)
		}
	}
	allErrs = append(allErrs, oneOf(string(spec.DeletionPolicy), fld.Child("deletionPolicy"), string(federation.DeletionPolicyDelete), string(federation.DeletionPolicyOrphan))...)
	allErrs = append(allErrs, oneOf(string(spec.ConflictPolicy), fld.Child("conflictPolicy"), string(federation.ConflictPolicyRefuse), string(federation.ConflictPolicyAdopt))...)
	return append(allErrs, oneOf(string(spec.Drift), fld.Child("drift"), string(federation.DriftPolicyReport), string(federation.DriftPolicyRevert))...)
}

func oneOf(v string, fld *field.Path, allowed ...string) field.ErrorList {
	if slices.Contains(allowed, v) {
		return nil
	}
	return field.ErrorList{field.NotSupported(fld, v, allowed)}
}

func validateClusterNames(names []string, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	seen := sets.New[string]()
	for i, n := range names {
		for _, msg := range validation.IsDNS1123Subdomain(n) {
			allErrs = append(allErrs, field.Invalid(fld.Index(i), n, msg))
		}
		if seen.Has(n) {
			allErrs = append(allErrs, field.Duplicate(fld.Index(i), n))
		}
		seen.Insert(n)
	}
	return allErrs
}

func validateTemplate(raw []byte, namespace string, namespaced bool, fld *field.Path) field.ErrorList {
	if len(raw) == 0 {
		return field.ErrorList{field.Required(fld, "the object to place: apiVersion, kind, metadata.name and its body")}
	}
	if len(raw) > MaxTemplateSize {
		return field.ErrorList{field.TooLong(fld, "", MaxTemplateSize)}
	}
	var h templateHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return field.ErrorList{field.Invalid(fld, "", fmt.Sprintf("not a JSON object with apiVersion, kind and metadata: %v", err))}
	}
	var allErrs field.ErrorList
	gv, err := schema.ParseGroupVersion(h.APIVersion)
	if h.APIVersion == "" {
		allErrs = append(allErrs, field.Required(fld.Child("apiVersion"), ""))
	} else if err != nil {
		allErrs = append(allErrs, field.Invalid(fld.Child("apiVersion"), h.APIVersion, err.Error()))
	}
	if h.Kind == "" {
		allErrs = append(allErrs, field.Required(fld.Child("kind"), ""))
	}
	meta := fld.Child("metadata")
	if h.Metadata.Name == "" {
		allErrs = append(allErrs, field.Required(meta.Child("name"), "the object's name on every member (generateName cannot be used: the object is found by its name)"))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(strings.ToLower(h.Metadata.Name)) {
			allErrs = append(allErrs, field.Invalid(meta.Child("name"), h.Metadata.Name, msg))
		}
	}
	for _, f := range []struct{ name, value string }{{"generateName", h.Metadata.GenerateName}, {"resourceVersion", h.Metadata.ResourceVersion}, {"uid", h.Metadata.UID}} {
		if f.value != "" {
			allErrs = append(allErrs, field.Forbidden(meta.Child(f.name), "each member sets its own"))
		}
	}
	if len(h.Metadata.OwnerReferences) > 0 {
		allErrs = append(allErrs, field.Forbidden(meta.Child("ownerReferences"), "owners are UIDs of one cluster's objects"))
	}
	if _, ok := h.Metadata.Labels[federation.OwnerLabel]; ok {
		allErrs = append(allErrs, field.Forbidden(meta.Child("labels").Key(federation.OwnerLabel), "the federation controller sets it"))
	}
	gk := schema.GroupKind{Group: gv.Group, Kind: h.Kind}
	switch {
	case namespaced && clusterScoped.Has(gk):
		allErrs = append(allErrs, field.Invalid(fld.Child("kind"), h.Kind, "a cluster-scoped kind: place it with a ClusterFederatedObject"))
	case namespaced && h.Metadata.Namespace != "" && h.Metadata.Namespace != namespace:
		allErrs = append(allErrs, field.Invalid(meta.Child("namespace"), h.Metadata.Namespace,
			fmt.Sprintf("a FederatedObject places its template in its own namespace, %q: omit it or give that", namespace)))
	case !namespaced && h.Metadata.Namespace != "":
		allErrs = append(allErrs, field.Invalid(meta.Child("namespace"), h.Metadata.Namespace,
			"a ClusterFederatedObject places a cluster-scoped object: to place a namespaced one use a FederatedObject in that namespace"))
	}
	return allErrs
}

// immutablePaths are what an override may not change: the object's identity.
var immutablePaths = []string{"/apiVersion", "/kind", "/metadata/name", "/metadata/namespace"}

func validatePatch(op federation.PatchOperation, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	allErrs = append(allErrs, oneOf(string(op.Op), fld.Child("op"), string(federation.PatchOpAdd), string(federation.PatchOpRemove), string(federation.PatchOpReplace))...)
	switch {
	case !strings.HasPrefix(op.Path, "/"):
		allErrs = append(allErrs, field.Invalid(fld.Child("path"), op.Path, "a JSON pointer, for example /spec/replicas"))
	case slices.Contains(immutablePaths, op.Path) || strings.HasPrefix(op.Path, "/metadata/labels/"+strings.ReplaceAll(federation.OwnerLabel, "/", "~1")):
		allErrs = append(allErrs, field.Forbidden(fld.Child("path"), "the object's identity is the same on every cluster"))
	case op.Path == "/metadata" || op.Path == "/" ||
		(strings.HasPrefix(op.Path, "/metadata/") && !strings.HasPrefix(op.Path, "/metadata/labels") && !strings.HasPrefix(op.Path, "/metadata/annotations")):
		allErrs = append(allErrs, field.Forbidden(fld.Child("path"), "of metadata an override may change labels and annotations only: the object's identity is the same on every cluster"))
	}
	if (op.Op == federation.PatchOpAdd || op.Op == federation.PatchOpReplace) && (op.Value == nil || len(op.Value.Raw) == 0) {
		allErrs = append(allErrs, field.Required(fld.Child("value"), fmt.Sprintf("%s needs a value", op.Op)))
	}
	if op.Op == federation.PatchOpRemove && op.Value != nil && len(op.Value.Raw) > 0 {
		allErrs = append(allErrs, field.Forbidden(fld.Child("value"), "remove takes no value"))
	}
	return allErrs
}
