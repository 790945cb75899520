package federation

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Object is either kind: what the registry and the controller do to both.
type Object interface {
	runtime.Object
	metav1.Object
	// Parts returns the object's spec and status.
	Parts() (*FederatedSpec, *FederatedStatus)
}

func (o *FederatedObject) Parts() (*FederatedSpec, *FederatedStatus) { return &o.Spec, &o.Status }
func (o *ClusterFederatedObject) Parts() (*FederatedSpec, *FederatedStatus) {
	return &o.Spec, &o.Status
}
