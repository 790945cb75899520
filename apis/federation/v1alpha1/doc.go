// +k8s:openapi-gen=true
// +k8s:deepcopy-gen=package
// +k8s:conversion-gen=kubesphere.io/multicluster/apis/federation
// +k8s:defaulter-gen=TypeMeta
// +groupName=federation.kubesphere.io
// +k8s:openapi-model-package=io.kubesphere.multicluster.apis.federation.v1alpha1

// Package v1alpha1 is the v1alpha1 version of the federation.kubesphere.io API.
package v1alpha1
