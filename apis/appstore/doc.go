// +k8s:deepcopy-gen=package
// +groupName=appstore.kubesphere.io

// Package appstore is the internal (hub) version of the appstore.kubesphere.io API: the App
// Store's repositories, the applications and versions computed from them, and the releases
// that install them on member clusters. The server converts every served version to and from
// these types; clients never see them.
package appstore
