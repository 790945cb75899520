// Package cluster is the REST storage of the clusters resource: how Cluster objects and
// their status are prepared, validated, admitted (admission.go: who may name a Secret or
// designate the host) and printed, and the proxy subresource (proxy.go), which hands each
// request to the proxy core in pkg/proxy.
package cluster
