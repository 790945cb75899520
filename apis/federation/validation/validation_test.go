package validation

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"kubesphere.io/multicluster/apis/federation"
)

func fo(template string, mutate func(*federation.FederatedObject)) *federation.FederatedObject {
	o := &federation.FederatedObject{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "web", ResourceVersion: "1"},
		Spec: federation.FederatedSpec{Template: runtime.RawExtension{Raw: []byte(template)},
			Placement:      &federation.Placement{Clusters: []string{"member1"}},
			DeletionPolicy: federation.DeletionPolicyDelete, ConflictPolicy: federation.ConflictPolicyRefuse, Drift: federation.DriftPolicyReport}}
	if mutate != nil {
		mutate(o)
	}
	return o
}

const web = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":2}}`

func TestValidateObject(t *testing.T) {
	value := &runtime.RawExtension{Raw: []byte(`3`)}
	for _, c := range []struct {
		name string
		o    *federation.FederatedObject
		want string // "" valid
	}{
		{"valid", fo(web, nil), ""},
		{"in its own namespace", fo(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"web"}}`, nil), ""},
		{"no template", fo(``, nil), "spec.template: Required"},
		{"not an object", fo(`[1]`, nil), "not a JSON object"},
		{"no kind", fo(`{"apiVersion":"v1","metadata":{"name":"c"}}`, nil), "spec.template.kind: Required"},
		{"no name", fo(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"generateName":"c-"}}`, nil), "spec.template.metadata.name: Required"},
		{"another namespace", fo(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"db"}}`, nil), `places its template in its own namespace, "web"`},
		{"cluster-scoped kind", fo(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}}`, nil), "place it with a ClusterFederatedObject"},
		{"our label", fo(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","labels":{"federation.kubesphere.io/owner-uid":"x"}}}`, nil), "the federation controller sets it"},
		{"owner references", fo(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","ownerReferences":[{}]}}`, nil), "ownerReferences: Forbidden"},
		{"duplicate cluster", fo(web, func(o *federation.FederatedObject) { o.Spec.Placement.Clusters = []string{"a", "a"} }), "Duplicate value"},
		{"bad op", fo(web, func(o *federation.FederatedObject) {
			o.Spec.Overrides = []federation.ClusterOverride{{Cluster: "member1", Patches: []federation.PatchOperation{{Op: "move", Path: "/spec"}}}}
		}), "Unsupported value: \"move\""},
		{"replace without value", fo(web, func(o *federation.FederatedObject) {
			o.Spec.Overrides = []federation.ClusterOverride{{Cluster: "member1", Patches: []federation.PatchOperation{{Op: "replace", Path: "/spec/replicas"}}}}
		}), "replace needs a value"},
		{"identity", fo(web, func(o *federation.FederatedObject) {
			o.Spec.Overrides = []federation.ClusterOverride{{Cluster: "member1", Patches: []federation.PatchOperation{{Op: "replace", Path: "/metadata/name", Value: value}}}}
		}), "identity is the same on every cluster"},
		{"all of metadata", fo(web, func(o *federation.FederatedObject) {
			o.Spec.Overrides = []federation.ClusterOverride{{Cluster: "member1", Patches: []federation.PatchOperation{{Op: "replace", Path: "/metadata", Value: &runtime.RawExtension{Raw: []byte(`{"name":"x"}`)}}}}}
		}), "labels and annotations only"},
		{"finalizers", fo(web, func(o *federation.FederatedObject) {
			o.Spec.Overrides = []federation.ClusterOverride{{Cluster: "member1", Patches: []federation.PatchOperation{{Op: "add", Path: "/metadata/finalizers", Value: value}}}}
		}), "labels and annotations only"},
		{"not a pointer", fo(web, func(o *federation.FederatedObject) {
			o.Spec.Overrides = []federation.ClusterOverride{{Cluster: "member1", Patches: []federation.PatchOperation{{Op: "replace", Path: "spec", Value: value}}}}
		}), "a JSON pointer"},
		{"policy", fo(web, func(o *federation.FederatedObject) { o.Spec.Drift = "Ignore" }), `spec.drift: Unsupported value: "Ignore"`},
	} {
		errs := ValidateObject(c.o, true)
		switch {
		case c.want == "" && len(errs) > 0:
			t.Errorf("%s: %v", c.name, errs)
		case c.want != "" && (len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.name, errs, c.want)
		}
	}
	cluster := &federation.ClusterFederatedObject{ObjectMeta: metav1.ObjectMeta{Name: "ns"},
		Spec: federation.FederatedSpec{Template: runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"web"}}`)},
			DeletionPolicy: "Delete", ConflictPolicy: "Refuse", Drift: "Report"}}
	if errs := ValidateObject(cluster, false); !strings.Contains(errs.ToAggregate().Error(), "no namespace to follow") {
		t.Errorf("cluster-scoped without placement: %v", errs)
	}
	cluster.Spec.Placement = &federation.Placement{ClusterSelector: &metav1.LabelSelector{}}
	if errs := ValidateObject(cluster, false); len(errs) > 0 {
		t.Errorf("a Namespace on every cluster: %v", errs)
	}
}

func TestValidateObjectUpdate(t *testing.T) {
	old := fo(web, nil)
	if errs := ValidateObjectUpdate(fo(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":5}}`, nil), old, true); len(errs) > 0 {
		t.Errorf("a new body: %v", errs)
	}
	for _, tpl := range []string{
		`{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"web"}}`,
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"api"}}`,
	} {
		if errs := ValidateObjectUpdate(fo(tpl, nil), old, true); !strings.Contains(errs.ToAggregate().Error(), "immutable") {
			t.Errorf("%s: %v, want immutable", tpl, errs)
		}
	}
}
