package v1alpha1

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
)

// objectFields are the field selectors of both kinds (the registry's getAttrs sets them).
var objectFields = []string{"metadata.name", "metadata.namespace", "spec.template.kind", "spec.template.metadata.name"}

func addConversionFuncs(scheme *runtime.Scheme) error {
	for _, kind := range []string{"FederatedObject", "ClusterFederatedObject"} {
		if err := scheme.AddFieldLabelConversionFunc(SchemeGroupVersion.WithKind(kind), fieldLabels); err != nil {
			return err
		}
	}
	return nil
}

// fieldLabels accepts the supported labels unchanged and names them in the error for any
// other.
func fieldLabels(label, value string) (string, string, error) {
	if slices.Contains(objectFields, label) {
		return label, value, nil
	}
	return "", "", fmt.Errorf("field label not supported: %s (supported: %s)", label, strings.Join(objectFields, ", "))
}
