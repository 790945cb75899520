package federate

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const manifests = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, uid: x, resourceVersion: "7"}
spec: {replicas: 2}
status: {replicas: 2}
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Service, metadata: {name: web}, spec: {ports: [{port: 80}]}}
- {apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: reader}, rules: []}
---
`

func TestWrap(t *testing.T) {
	objs, err := Read(strings.NewReader(manifests))
	if err != nil || len(objs) != 3 {
		t.Fatalf("read %d objects, %v", len(objs), err)
	}
	out, err := Wrap(objs, Options{Clusters: []string{"member1", "member2"}, Namespace: "team"})
	if err != nil || len(out) != 3 {
		t.Fatalf("wrapped %d, %v", len(out), err)
	}
	get := func(o *unstructured.Unstructured, path ...string) any {
		v, _, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
		return v
	}
	dep, svc, cr := out[0], out[1], out[2]
	if dep.GetKind() != "FederatedObject" || dep.GetName() != "deployment-web" || dep.GetNamespace() != "shop" {
		t.Errorf("deployment: %s %s/%s", dep.GetKind(), dep.GetNamespace(), dep.GetName())
	}
	for _, f := range [][]string{{"spec", "template", "status"}, {"spec", "template", "metadata", "uid"}, {"spec", "template", "metadata", "namespace"},
		{"spec", "template", "metadata", "resourceVersion"}} {
		if v := get(dep, f...); v != nil {
			t.Errorf("%v kept: %v", f, v)
		}
	}
	if svc.GetNamespace() != "team" || svc.GetName() != "service-web" {
		t.Errorf("service in %s/%s, want team/service-web", svc.GetNamespace(), svc.GetName())
	}
	if cr.GetKind() != "ClusterFederatedObject" || cr.GetNamespace() != "" || cr.GetName() != "clusterrole-reader" {
		t.Errorf("clusterrole: %s %s/%s", cr.GetKind(), cr.GetNamespace(), cr.GetName())
	}
	if c := get(svc, "spec", "placement", "clusters"); len(c.([]any)) != 2 {
		t.Errorf("placement %v", c)
	}

	// Namespace placement: each namespace placed once, the namespaced objects follow it.
	out, err = Wrap(objs, Options{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}, Namespace: "team", NamespacePlacement: true})
	if err != nil || len(out) != 5 {
		t.Fatalf("wrapped %d, %v", len(out), err)
	}
	if out[0].GetName() != "namespace-shop" || out[1].GetName() != "namespace-team" {
		t.Errorf("namespaces first: %s %s", out[0].GetName(), out[1].GetName())
	}
	if v := get(out[0], "spec", "placement", "clusterSelector", "matchLabels", "env"); v != "prod" {
		t.Errorf("namespace placement %v", v)
	}
	if v := get(out[2], "spec", "placement"); v != nil {
		t.Errorf("a namespaced object carries a placement: %v", v)
	}
	if v := get(out[4], "spec", "placement"); v == nil {
		t.Errorf("a cluster-scoped object has no placement")
	}
	if _, err := Wrap(objs, Options{}); err == nil {
		t.Error("no placement: want an error")
	}
	y, err := YAML(out[:1])
	if err != nil || !strings.Contains(string(y), "kind: ClusterFederatedObject") {
		t.Errorf("yaml: %s %v", y, err)
	}
}
