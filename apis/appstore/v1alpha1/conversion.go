package v1alpha1

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
)

// Field selectors of the computed views (the registry's SelectableFields must match).
var (
	applicationFields        = []string{"metadata.name", "spec.repo", "spec.chart", "status.state"}
	applicationVersionFields = []string{"metadata.name", "spec.repo", "spec.chart", "spec.application", "spec.version", "status.state"}
	applicationReleaseFields = []string{"metadata.name", "spec.application", "spec.targetNamespace"}
)

func addConversionFuncs(scheme *runtime.Scheme) error {
	if err := scheme.AddFieldLabelConversionFunc(SchemeGroupVersion.WithKind("Application"), fieldLabels(applicationFields)); err != nil {
		return err
	}
	if err := scheme.AddFieldLabelConversionFunc(SchemeGroupVersion.WithKind("ApplicationVersion"), fieldLabels(applicationVersionFields)); err != nil {
		return err
	}
	return scheme.AddFieldLabelConversionFunc(SchemeGroupVersion.WithKind("ApplicationRelease"), fieldLabels(applicationReleaseFields))
}

// fieldLabels accepts the supported labels unchanged (they are the same in every version)
// and names them in the error for any other.
func fieldLabels(supported []string) runtime.FieldLabelConversionFunc {
	return func(label, value string) (string, string, error) {
		for _, s := range supported {
			if label == s {
				return label, value, nil
			}
		}
		return "", "", fmt.Errorf("field label not supported: %s (supported: %s)", label, strings.Join(supported, ", "))
	}
}
