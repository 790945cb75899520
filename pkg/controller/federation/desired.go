package federation

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"kubesphere.io/multicluster/apis/federation/v1alpha1"
)

// desired is the object to apply on cluster: the template with that cluster's overrides,
// in namespace (empty for cluster-scoped), with our owner label. Its hash identifies it,
// so that an unchanged object is not applied again.
func desired(spec *v1alpha1.FederatedSpec, cluster, namespace, uid string) (*unstructured.Unstructured, string, error) {
	raw := spec.Template.Raw
	for _, o := range spec.Overrides {
		if o.Cluster != cluster || len(o.Patches) == 0 {
			continue
		}
		ops := make([]map[string]any, 0, len(o.Patches))
		for _, p := range o.Patches {
			op := map[string]any{"op": string(p.Op), "path": p.Path}
			if p.Value != nil && len(p.Value.Raw) > 0 {
				op["value"] = json.RawMessage(p.Value.Raw)
			}
			ops = append(ops, op)
		}
		data, err := json.Marshal(ops)
		if err != nil {
			return nil, "", err
		}
		patch, err := jsonpatch.DecodePatch(data)
		if err != nil {
			return nil, "", fmt.Errorf("the override of cluster %s: %w", cluster, err)
		}
		if raw, err = patch.Apply(raw); err != nil {
			return nil, "", fmt.Errorf("the override of cluster %s does not apply to the template: %w", cluster, err)
		}
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(raw); err != nil {
		return nil, "", fmt.Errorf("the template: %w", err)
	}
	tpl := &unstructured.Unstructured{}
	if err := tpl.UnmarshalJSON(spec.Template.Raw); err != nil {
		return nil, "", fmt.Errorf("the template: %w", err)
	}
	if obj.GetAPIVersion() != tpl.GetAPIVersion() || obj.GetKind() != tpl.GetKind() || obj.GetName() != tpl.GetName() {
		return nil, "", fmt.Errorf("the override of cluster %s changes the object's apiVersion, kind or name, which are the same on every cluster", cluster)
	}
	// What each member sets, never ours to send.
	for _, f := range []string{"status", "metadata.creationTimestamp", "metadata.managedFields", "metadata.generation", "metadata.selfLink"} {
		unstructured.RemoveNestedField(obj.Object, strings.Split(f, ".")...)
	}
	obj.SetNamespace(namespace)
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[ownerLabel] = uid
	obj.SetLabels(labels)
	data, err := obj.MarshalJSON()
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(data)
	return obj, hex.EncodeToString(sum[:8]), nil
}

// maxDrifted bounds the paths a row reports.
const maxDrifted = 20

// drifted lists the fields want sets whose values differ in live, as JSON paths (lists by
// index). Fields only live has (defaults, what member controllers add) are not compared:
// they are not ours.
func drifted(want, live map[string]any) []string {
	var out []string
	var walk func(path string, w, l any)
	walk = func(path string, w, l any) {
		if len(out) >= maxDrifted {
			return
		}
		switch wv := w.(type) {
		case map[string]any:
			lv, ok := l.(map[string]any)
			if !ok {
				out = append(out, path)
				return
			}
			keys := make([]string, 0, len(wv))
			for k := range wv {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(path+"."+k, wv[k], lv[k])
			}
		case []any:
			lv, ok := l.([]any)
			if !ok || len(lv) != len(wv) {
				out = append(out, path)
				return
			}
			for i := range wv {
				walk(path+"["+strconv.Itoa(i)+"]", wv[i], lv[i])
			}
		default:
			if !sameScalar(w, l) {
				out = append(out, path)
			}
		}
	}
	// stringData is write-only (a member stores it in data), so it is never compared.
	for _, top := range []string{"spec", "data", "binaryData", "rules", "roleRef", "subjects", "webhooks"} {
		if w, ok := want[top]; ok {
			walk("."+top, w, live[top])
		}
	}
	meta, _ := want["metadata"].(map[string]any)
	liveMeta, _ := live["metadata"].(map[string]any)
	for _, k := range []string{"labels", "annotations"} {
		if w, ok := meta[k]; ok {
			walk(".metadata."+k, w, liveMeta[k])
		}
	}
	return out
}

// sameScalar compares JSON scalars, numbers by value (a member may answer 2 for 2.0) and
// quantities by amount (a member answers "1" for "1000m").
func sameScalar(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	if fa, ok := number(a); ok {
		if fb, ok := number(b); ok {
			return fa == fb
		}
	}
	qa, okA := quantity(a)
	qb, okB := quantity(b)
	return okA && okB && qa.Cmp(qb) == 0
}

func quantity(v any) (resource.Quantity, bool) {
	switch x := v.(type) {
	case string:
		q, err := resource.ParseQuantity(x)
		return q, err == nil
	case int64:
		return *resource.NewQuantity(x, resource.DecimalSI), true
	case float64:
		q, err := resource.ParseQuantity(strconv.FormatFloat(x, 'f', -1, 64))
		return q, err == nil
	}
	return resource.Quantity{}, false
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}
