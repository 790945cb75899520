// Package tunnel is the agent connection: how the host reaches an Agent cluster, a member
// the host cannot dial. It has three roles, each in its own files:
//
//   - Agent (agent.go, forwarder.go), `tower agent` on the member: dials one TLS connection
//     out to every tower proxy replica, upgrades it to a yamux session (a tunnel), and
//     serves HTTP on each stream the host opens, to its own kube-apiserver only.
//   - Server (server.go, serverauth.go), the tower proxy, `tower proxy` on the host: accepts
//     agents' tunnels (checking their join tokens) and, for authorized host components,
//     answers CONNECT <cluster>:443 with a stream on that cluster's tunnel.
//   - Dialer (dialer.go, dialeroptions.go), the client inside cluster-apiserver and
//     controller-manager: CONNECTs to the tower proxies for a stream to a cluster and speaks
//     HTTP over it as it would to a member's address.
//
// protocol.go is the wire contract between them (paths, headers, the handshakes' requests
// and answers, errors as Kubernetes Status); session.go sets up yamux; writebatch.go
// batches a tunnel's writes; conn.go and resolve.go are helpers more than one role uses.
// Join tokens and the host Secret of their hashes are pkg/agenttoken's.
//
// Glossary:
//   - tunnel: one TLS connection from an agent to one tower proxy address, upgraded to a
//     yamux session, named by a random Tunnel-Id; the agent reconnects with backoff.
//   - stream: one yamux stream on a tunnel, opened by the tower proxy per CONNECT; it
//     carries one HTTP connection to the member's API server.
//   - dialer: a host component allowed to open streams (--allowed-dialers of tower proxy).
//   - replica: one address of a tower proxy URL; a name that resolves to several (a
//     headless Service) stands for every replica.
//
// yamux (hashicorp/yamux, the multiplexer of Consul and Nomad) gives each stream its own
// flow-control window, so a stream nobody reads (a paused logs -f) holds at most one window
// of data and never stalls the others; opening a stream costs no round trip; keepalives
// find a dead peer.
package tunnel
