package tunnel

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
	"k8s.io/klog/v2"

	"kubesphere.io/multicluster/pkg/agenttoken"
)

// Backoff between an agent's attempts to reach a tower proxy: doubling from Initial up to
// Max, each wait drawn at random between half and all of it (so a thousand agents cut off
// together do not come back together). A tunnel that stayed up resets it.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

// DefaultBackoff is 1 s doubling to 30 s.
var DefaultBackoff = Backoff{Initial: time.Second, Max: 30 * time.Second}

func (b Backoff) next(prev time.Duration) time.Duration {
	if prev <= 0 {
		return b.Initial
	}
	return min(2*prev, b.Max)
}

func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// Agent is the member side of the tunnel (tower agent): it keeps a tunnel open to every
// tower proxy replica and serves Handler on the streams the host opens.
type Agent struct {
	// Cluster is the Cluster's name on the host.
	Cluster string
	// TokenFile holds the join token; it is read at each connection, so a rotated token
	// is picked up without a restart.
	TokenFile string
	// Servers are the tower proxy URLs (https://host:port). A name that resolves to several
	// addresses (a headless Service) gets a tunnel to each.
	Servers []string
	// RootCAs is the host CA pinned at join: the only CA the agent trusts.
	RootCAs *x509.CertPool
	// Handler serves each stream: the forwarder to the member's own kube-apiserver.
	Handler http.Handler
	// ServeStreams, when set, is given each tunnel's streams as a listener instead of
	// Handler: for a caller that is not an HTTP upstream and takes raw streams (the tunnel
	// benchmark, hack/bench/bench-tunnel, forwards them to an echo server; tower agent never
	// sets it). It returns when the listener fails, which it does when the tunnel closes.
	ServeStreams func(net.Listener) error
	Backoff      Backoff
	// Resolve is how often names in Servers are looked up again for new replicas.
	Resolve time.Duration

	mu        sync.Mutex
	connected map[string]bool
}

// Connected reports whether at least one tunnel is up (the agent's readiness).
func (a *Agent) Connected() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, up := range a.connected {
		if up {
			return true
		}
	}
	return false
}

func (a *Agent) setConnected(addr string, up bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.connected == nil {
		a.connected = map[string]bool{}
	}
	a.connected[addr] = up
}

// Run keeps the tunnels up until ctx ends, then closes them.
func (a *Agent) Run(ctx context.Context) error {
	if a.Backoff.Initial <= 0 || a.Backoff.Max < a.Backoff.Initial {
		a.Backoff = DefaultBackoff
	}
	if a.Resolve <= 0 {
		a.Resolve = 30 * time.Second
	}
	var wg sync.WaitGroup
	running := map[string]bool{}
	for {
		for _, server := range a.Servers {
			u, err := url.Parse(server)
			if err != nil || u.Scheme != "https" || u.Host == "" {
				return fmt.Errorf("tower proxy %q is not an https URL", server)
			}
			for _, addr := range resolveAll(ctx, u) {
				if running[addr] {
					continue
				}
				running[addr] = true
				wg.Add(1)
				go func() {
					defer wg.Done()
					a.keep(ctx, u, addr)
				}()
			}
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-time.After(a.Resolve):
		}
	}
}

// keep holds one tunnel to addr up, reconnecting with backoff, until ctx ends.
func (a *Agent) keep(ctx context.Context, server *url.URL, addr string) {
	var wait time.Duration
	for ctx.Err() == nil {
		start := time.Now()
		session, err := a.connect(ctx, server, addr)
		if err == nil {
			a.setConnected(addr, true)
			klog.InfoS("Tunnel up", "server", server.Host, "address", addr)
			a.serve(ctx, session)
			a.setConnected(addr, false)
			klog.InfoS("Tunnel down", "server", server.Host, "address", addr, "after", time.Since(start).Round(time.Millisecond))
			if time.Since(start) > a.Backoff.Max {
				wait = 0
			}
		} else {
			klog.InfoS("Cannot open the tunnel", "server", server.Host, "address", addr, "err", err)
		}
		wait = a.Backoff.next(wait)
		select {
		case <-ctx.Done():
		case <-time.After(jitter(wait)):
		}
	}
}

func (a *Agent) connect(ctx context.Context, server *url.URL, addr string) (*yamux.Session, error) {
	token, err := os.ReadFile(a.TokenFile)
	if err != nil {
		return nil, err
	}
	tok := strings.TrimSpace(string(token))
	if err := agenttoken.CheckShape(tok); err != nil {
		return nil, fmt.Errorf("%s: %w", a.TokenFile, err)
	}
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	raw, err := (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext(dialCtx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	// Full-size records from the start: the tunnel is long-lived and carries bulk data;
	// small first records only help a web page's first paint. Below TLS, the records of
	// each flush are batched into one write.
	conn := tls.Client(&batchConn{Conn: raw}, &tls.Config{RootCAs: a.RootCAs, ServerName: server.Hostname(),
		NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12, DynamicRecordSizingDisabled: true})
	if err := conn.HandshakeContext(dialCtx); err != nil {
		_ = raw.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, agentRequest(a.Cluster, server.Host, tok)); err != nil {
		_ = conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer conn.Close()
		return nil, statusError(resp)
	}
	_ = conn.SetDeadline(time.Time{})
	return yamux.Server(newFrameWriter(withBuffered(conn, br)), muxConfig())
}

// serve answers the host's streams with Handler until the tunnel or ctx ends.
func (a *Agent) serve(ctx context.Context, session *yamux.Session) {
	if a.ServeStreams != nil {
		stop := context.AfterFunc(ctx, func() { _ = session.Close() })
		defer stop()
		_ = a.ServeStreams(session)
		_ = session.Close()
		return
	}
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          nil,
	}
	stop := context.AfterFunc(ctx, func() {
		// Let streams in flight finish briefly, then end the tunnel.
		_ = session.GoAway()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
		_ = session.Close()
	})
	defer stop()
	err := srv.Serve(session)
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, yamux.ErrSessionShutdown) {
		klog.V(2).InfoS("Tunnel ended", "err", err)
	}
	_ = session.Close()
	<-session.CloseChan()
}
