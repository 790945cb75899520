// Package federate wraps plain manifests (what kubectl apply -f takes: kustomize or helm
// template output included) into FederatedObjects and ClusterFederatedObjects, for
// kubectl ksmc federate.
package federate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"kubesphere.io/multicluster/apis/federation/v1alpha1"
)

// Options say where the wrapped objects go.
type Options struct {
	// Clusters and Selector are the placement (exactly one).
	Clusters []string
	Selector *metav1.LabelSelector
	// Namespace is the host namespace of namespaced objects that name none.
	Namespace string
	// NamespacePlacement places each namespace the objects are in (a ClusterFederatedObject
	// of the Namespace, unless the manifests hold it) and has the namespaced objects follow
	// it instead of carrying the placement themselves.
	NamespacePlacement bool
	// ClusterScoped tells whether a kind is cluster-scoped; nil uses the well-known kinds
	// (Namespace, ClusterRole, CRDs, ...), which is what works without a cluster to ask.
	ClusterScoped func(schema.GroupKind) bool
}

// Read decodes the objects of YAML or JSON documents, expanding Lists.
func Read(r io.Reader) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bufio.NewReader(r), 4096)
	var out []*unstructured.Unstructured
	for i := 1; ; i++ {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.IsList() {
			if err := u.EachListItem(func(o runtime.Object) error {
				out = append(out, o.(*unstructured.Unstructured))
				return nil
			}); err != nil {
				return nil, fmt.Errorf("document %d: %w", i, err)
			}
			continue
		}
		out = append(out, u)
	}
}

// Wrap makes one federated object per object, in input order (namespaces first when
// NamespacePlacement adds them).
func Wrap(objs []*unstructured.Unstructured, o Options) ([]*unstructured.Unstructured, error) {
	if (len(o.Clusters) > 0) == (o.Selector != nil) {
		return nil, errors.New("name the clusters or give a cluster selector (exactly one)")
	}
	scoped := o.ClusterScoped
	if scoped == nil {
		scoped = WellKnownClusterScoped
	}
	place := map[string]any{}
	if len(o.Clusters) > 0 {
		clusters := make([]any, len(o.Clusters))
		for i, c := range o.Clusters {
			clusters[i] = c
		}
		place["clusters"] = clusters
	} else {
		sel, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o.Selector)
		if err != nil {
			return nil, err
		}
		place["clusterSelector"] = sel
	}
	ns := o.Namespace
	if ns == "" {
		ns = "default"
	}
	var out, namespaces []*unstructured.Unstructured
	placedNS := map[string]bool{}
	var usedNS []string
	for i, obj := range objs {
		gvk := obj.GroupVersionKind()
		if gvk.Kind == "" || obj.GetAPIVersion() == "" || obj.GetName() == "" {
			return nil, fmt.Errorf("object %d: apiVersion, kind and metadata.name are needed", i+1)
		}
		tpl := obj.DeepCopy()
		for _, f := range [][]string{{"status"}, {"metadata", "resourceVersion"}, {"metadata", "uid"}, {"metadata", "creationTimestamp"},
			{"metadata", "managedFields"}, {"metadata", "generation"}, {"metadata", "selfLink"}, {"metadata", "ownerReferences"}} {
			unstructured.RemoveNestedField(tpl.Object, f...)
		}
		kind := v1alpha1.SchemeGroupVersion.WithKind("FederatedObject")
		objNS := ""
		if scoped(gvk.GroupKind()) {
			kind.Kind = "ClusterFederatedObject"
			tpl.SetNamespace("")
		} else {
			objNS = tpl.GetNamespace()
			if objNS == "" {
				objNS = ns
			}
			tpl.SetNamespace("")
			if !slices.Contains(usedNS, objNS) {
				usedNS = append(usedNS, objNS)
			}
		}
		if gvk.Group == "" && gvk.Kind == "Namespace" {
			placedNS[obj.GetName()] = true
		}
		fo := &unstructured.Unstructured{}
		fo.SetGroupVersionKind(kind)
		fo.SetName(Name(gvk.Kind, obj.GetName()))
		fo.SetNamespace(objNS)
		spec := map[string]any{"template": tpl.Object}
		if objNS == "" || !o.NamespacePlacement {
			spec["placement"] = place
		}
		fo.Object["spec"] = spec
		out = append(out, fo)
	}
	if o.NamespacePlacement {
		for _, n := range usedNS {
			if placedNS[n] {
				continue
			}
			nsObj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": n}}}
			cfo := &unstructured.Unstructured{}
			cfo.SetGroupVersionKind(v1alpha1.SchemeGroupVersion.WithKind("ClusterFederatedObject"))
			cfo.SetName(Name("Namespace", n))
			cfo.Object["spec"] = map[string]any{"template": nsObj.Object, "placement": place}
			namespaces = append(namespaces, cfo)
		}
	}
	return append(namespaces, out...), nil
}

// Name is the federated object's name for an object: its kind, lowercased, and its name,
// so that a Deployment and a Service of one name do not meet.
func Name(kind, name string) string {
	n := strings.ToLower(kind) + "-" + name
	if len(n) > validation.DNS1123SubdomainMaxLength {
		n = n[:validation.DNS1123SubdomainMaxLength]
	}
	return strings.TrimRight(n, "-.")
}

// WellKnownClusterScoped reports the kinds Kubernetes serves cluster-scoped.
func WellKnownClusterScoped(gk schema.GroupKind) bool {
	switch gk.Group {
	case "":
		return gk.Kind == "Namespace" || gk.Kind == "Node" || gk.Kind == "PersistentVolume"
	case "rbac.authorization.k8s.io":
		return gk.Kind == "ClusterRole" || gk.Kind == "ClusterRoleBinding"
	case "apiextensions.k8s.io":
		return gk.Kind == "CustomResourceDefinition"
	case "storage.k8s.io":
		return gk.Kind == "StorageClass" || gk.Kind == "CSIDriver" || gk.Kind == "VolumeAttachment"
	case "scheduling.k8s.io":
		return gk.Kind == "PriorityClass"
	case "networking.k8s.io":
		return gk.Kind == "IngressClass"
	case "node.k8s.io":
		return gk.Kind == "RuntimeClass"
	case "admissionregistration.k8s.io":
		return strings.HasSuffix(gk.Kind, "WebhookConfiguration") || strings.HasPrefix(gk.Kind, "ValidatingAdmissionPolicy")
	case "apiregistration.k8s.io":
		return gk.Kind == "APIService"
	}
	return false
}

// YAML prints objects as one multi-document YAML stream.
func YAML(objs []*unstructured.Unstructured) ([]byte, error) {
	var buf bytes.Buffer
	for i, o := range objs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, err
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}
