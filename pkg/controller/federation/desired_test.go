package federation

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"kubesphere.io/multicluster/apis/federation/v1alpha1"
)

const tpl = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"x","uid":"u","labels":{"app":"web"}},
"spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"web","image":"nginx","resources":{"limits":{"cpu":"1000m"}}}]}}},"status":{"replicas":1}}`

func spec(overrides ...v1alpha1.ClusterOverride) *v1alpha1.FederatedSpec {
	return &v1alpha1.FederatedSpec{Template: runtime.RawExtension{Raw: []byte(tpl)}, Overrides: overrides}
}

func patch(op v1alpha1.PatchOp, path, value string) v1alpha1.PatchOperation {
	p := v1alpha1.PatchOperation{Op: op, Path: path}
	if value != "" {
		p.Value = &runtime.RawExtension{Raw: []byte(value)}
	}
	return p
}

// The desired object: the template with the cluster's overrides, in the object's namespace,
// with our label, without what members set; its hash changes with it.
func TestDesired(t *testing.T) {
	o := v1alpha1.ClusterOverride{Cluster: "member1", Patches: []v1alpha1.PatchOperation{patch(v1alpha1.PatchOpReplace, "/spec/replicas", "3")}}
	d1, h1, err := desired(spec(o), "member1", "default", "uid-1")
	if err != nil {
		t.Fatal(err)
	}
	d2, h2, err := desired(spec(o), "member2", "default", "uid-1")
	if err != nil {
		t.Fatal(err)
	}
	if r, _, _ := unstructured.NestedInt64(d1.Object, "spec", "replicas"); r != 3 {
		t.Errorf("member1 replicas %d, want 3", r)
	}
	if r, _, _ := unstructured.NestedInt64(d2.Object, "spec", "replicas"); r != 1 {
		t.Errorf("member2 replicas %d, want 1", r)
	}
	if h1 == h2 {
		t.Error("different objects, same hash")
	}
	if d1.GetNamespace() != "default" || d1.GetLabels()[ownerLabel] != "uid-1" || d1.GetLabels()["app"] != "web" {
		t.Errorf("desired %v", d1.Object)
	}
	if _, ok := d1.Object["status"]; ok {
		t.Error("status kept")
	}
	bad := v1alpha1.ClusterOverride{Cluster: "member1", Patches: []v1alpha1.PatchOperation{patch(v1alpha1.PatchOpReplace, "/spec/nothere/x", "1")}}
	if _, _, err := desired(spec(bad), "member1", "default", "u"); err == nil || !strings.Contains(err.Error(), "does not apply") {
		t.Errorf("a patch that does not apply: %v", err)
	}
	rename := v1alpha1.ClusterOverride{Cluster: "member1", Patches: []v1alpha1.PatchOperation{patch(v1alpha1.PatchOpReplace, "/metadata", `{"name":"other"}`)}}
	if _, _, err := desired(spec(rename), "member1", "default", "u"); err == nil || !strings.Contains(err.Error(), "apiVersion, kind or name") {
		t.Errorf("a rename: %v", err)
	}
}

// Drift is the template's own fields that differ; what only the member has is not drift,
// nor a quantity written another way.
func TestDrifted(t *testing.T) {
	want := map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
		"spec": map[string]any{"replicas": int64(2), "template": map[string]any{"spec": map[string]any{"containers": []any{
			map[string]any{"image": "nginx", "resources": map[string]any{"limits": map[string]any{"cpu": "1000m"}}}}}}},
		"stringData": map[string]any{"k": "v"}}
	live := map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "web", "extra": "x"}},
		"spec": map[string]any{"replicas": int64(5), "paused": false, "template": map[string]any{"spec": map[string]any{"containers": []any{
			map[string]any{"image": "nginx:hotfix", "resources": map[string]any{"limits": map[string]any{"cpu": "1"}}}}}}},
		"data": map[string]any{"k": "dg=="}}
	got := drifted(want, live)
	if !slices.Equal(got, []string{".spec.replicas", ".spec.template.spec.containers[0].image"}) {
		t.Errorf("drifted %v", got)
	}
}
