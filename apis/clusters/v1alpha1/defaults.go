package v1alpha1

import "k8s.io/apimachinery/pkg/runtime"

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	return RegisterDefaults(scheme)
}

// SetDefaults_Connection makes Direct the default: it needs nothing on the member.
func SetDefaults_Connection(obj *Connection) {
	if obj.Type == "" {
		obj.Type = ConnectionDirect
	}
}
