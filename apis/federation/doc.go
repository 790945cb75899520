// +k8s:deepcopy-gen=package
// +groupName=federation.kubesphere.io

// Package federation is the internal (hub) version of the federation.kubesphere.io API:
// objects placed on chosen member clusters, with per-cluster overrides, applied there as the
// user who asked. The server converts every served version to and from these types.
package federation
