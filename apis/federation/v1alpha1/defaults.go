package v1alpha1

import "k8s.io/apimachinery/pkg/runtime"

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	return RegisterDefaults(scheme)
}

// SetDefaults_FederatedSpec sets the policies a user who names none gets: member objects
// go with the federated object, an object that is not ours is left alone, and a changed
// field is reported, not fought over.
func SetDefaults_FederatedSpec(obj *FederatedSpec) {
	if obj.DeletionPolicy == "" {
		obj.DeletionPolicy = DeletionPolicyDelete
	}
	if obj.ConflictPolicy == "" {
		obj.ConflictPolicy = ConflictPolicyRefuse
	}
	if obj.Drift == "" {
		obj.Drift = DriftPolicyReport
	}
}
