// +k8s:deepcopy-gen=package
// +groupName=clusters.kubesphere.io

// Package clusters is the internal (hub) version of the clusters.kubesphere.io API. The
// server converts every served version to and from these types; clients never see them.
package clusters
