// +k8s:openapi-gen=true
// +k8s:deepcopy-gen=package
// +k8s:conversion-gen=kubesphere.io/multicluster/apis/clusters
// +k8s:defaulter-gen=TypeMeta
// +groupName=clusters.kubesphere.io
// +k8s:openapi-model-package=io.kubesphere.multicluster.apis.clusters.v1alpha1

// Package v1alpha1 is the v1alpha1 version of the clusters.kubesphere.io API.
package v1alpha1
