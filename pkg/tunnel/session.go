package tunnel

import (
	"time"

	"github.com/hashicorp/yamux"

	"kubesphere.io/multicluster/internal/stdlog"
)

// The yamux session of a tunnel. The tower proxy is the yamux client (it opens the streams)
// and the agent the server; both use muxConfig.
const (
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
