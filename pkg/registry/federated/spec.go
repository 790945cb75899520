package federated

import (
	"bytes"
	"encoding/json"

	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"kubesphere.io/multicluster/apis/federation"
)

// specChanged compares two specs, templates as JSON values: a client that sends the same
// template with its keys in another order has changed nothing.
func specChanged(a, b *federation.FederatedSpec) bool {
	ac, bc := *a, *b
	ac.Template.Raw, bc.Template.Raw = nil, nil
	ac.Template.Object, bc.Template.Object = nil, nil
	if !apiequality.Semantic.DeepEqual(ac, bc) {
		return true
	}
	return !sameJSON(a.Template.Raw, b.Template.Raw)
}

func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var av, bv any
	if json.Unmarshal(a, &av) != nil || json.Unmarshal(b, &bv) != nil {
		return false
	}
	return apiequality.Semantic.DeepEqual(av, bv)
}
