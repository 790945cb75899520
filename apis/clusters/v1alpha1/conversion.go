package v1alpha1

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
)

func addConversionFuncs(scheme *runtime.Scheme) error {
	// The field selectors clusters support (see the registry's SelectableFields).
	return scheme.AddFieldLabelConversionFunc(SchemeGroupVersion.WithKind("Cluster"),
		func(label, value string) (string, string, error) {
			switch label {
			case "metadata.name", "spec.connection.type":
				return label, value, nil
			}
			return "", "", fmt.Errorf("field label not supported: %s (supported: metadata.name, spec.connection.type)", label)
		})
}
