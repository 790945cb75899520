// Package install registers the federation.kubesphere.io API group in a scheme.
package install

import (
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	"kubesphere.io/multicluster/apis/federation"
	"kubesphere.io/multicluster/apis/federation/v1alpha1"
)

// Install adds the internal and every served version of the group to scheme.
func Install(scheme *runtime.Scheme) {
	utilruntime.Must(federation.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	utilruntime.Must(scheme.SetVersionPriority(v1alpha1.SchemeGroupVersion))
}
