// Package clusterconn is how the host reaches each member cluster: a Backend per Cluster
// with the member's URL and a pooled transport. Direct members are reached at their
// endpoint with the credential in their Secret; Agent members through a stream that an
// AgentDialer (pkg/tunnel's Dialer) opens via a tower proxy, with no credential on the
// host. Before a connection carries a request, the member on its other end is verified
// to be the Cluster's (identity.go: the kube-system namespace UID against status.uid).
// Backends are rebuilt when the Cluster, its Secret or its pin change. The proxy core and
// the health probes share them, so a probe takes the proxy's own path.
package clusterconn
