// Package tunnel is the agent connection. An agent on a member dials one TLS connection
// out to a tower proxy on the host and multiplexes streams over it with yamux; on each
// stream it serves HTTP to its own kube-apiserver only. The host's components reach an
// Agent cluster by asking a tower proxy to CONNECT them to the cluster's name: they get a
// stream on the tunnel and speak HTTP over it as they would to a member's address.
//
// yamux (hashicorp/yamux, the multiplexer of Consul and Nomad) gives each stream its own
// flow-control window, so a stream nobody reads (a paused logs -f) holds at most one window
// of data and never stalls the others; opening a stream costs no round trip; keepalives
// find a dead peer.
package tunnel

import (
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/yamux"

	"kubesphere.io/multicluster/internal/buffers"
	"kubesphere.io/multicluster/internal/stdlog"
)

const (
	// AgentPathPrefix is where an agent opens its tunnel: GET /tunnels/<cluster> with
	// Upgrade: UpgradeProtocol and the join token as a bearer token.
	AgentPathPrefix = "/tunnels/"
	// UpgradeProtocol names the tunnel protocol in the Upgrade header.
	UpgradeProtocol = "kubesphere-tunnel-yamux"

	// KeepAliveInterval and KeepAliveTimeout bound how long a dead peer goes unnoticed: a
	// ping every 5 s that must be answered within 10 s, so 15 s at most.
	KeepAliveInterval = 5 * time.Second
	KeepAliveTimeout  = 10 * time.Second
	// streamWindow is the most a stream may have in flight unread. 1 MiB keeps one stream
	// near loopback speed for big bodies; a stalled stream holds no more than this.
	streamWindow = 1 << 20
)

func muxConfig() *yamux.Config {
	c := yamux.DefaultConfig()
	c.AcceptBacklog = 256
	c.EnableKeepAlive = true
	c.KeepAliveInterval = KeepAliveInterval
	c.ConnectionWriteTimeout = KeepAliveTimeout
	c.MaxStreamWindowSize = streamWindow
	c.StreamOpenTimeout = 10 * time.Second
	c.StreamCloseTimeout = time.Minute
	c.LogOutput = nil
	c.Logger = stdlog.V2
	return c
}

// ErrAgentNotConnected is returned when no tower proxy has a tunnel from the cluster's
// agent: the agent is not running, cannot reach the host, or its token was refused.
type ErrAgentNotConnected struct{ Cluster string }

func (e ErrAgentNotConnected) Error() string {
	return fmt.Sprintf("the agent of cluster %q is not connected to any tower proxy", e.Cluster)
}

// splice copies both ways until both directions are done, half-closing each side's write
// when its source ends, so a request body's end reaches the other side.
func splice(a, b io.ReadWriteCloser) {
	done := make(chan struct{}, 2)
	cp := func(dst, src io.ReadWriteCloser) {
		buf := buffers.Pool{}.Get()
		_, _ = io.CopyBuffer(dst, src, buf)
		buffers.Pool{}.Put(buf)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	cp(b, a)
	<-done
	_ = a.Close()
	_ = b.Close()
}
