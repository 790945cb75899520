package tunnel

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/klog/v2"

	"kubesphere.io/multicluster/internal/buffers"
	"kubesphere.io/multicluster/pkg/agenttoken"
)

// TokenHashes finds the stored hash of a cluster's join token; ok is false when the cluster
// has none (no such cluster, or its token was revoked).
type TokenHashes func(cluster string) (hash string, ok bool)

// Server is the tower proxy, the host side that agents dial: it accepts agents' tunnels
// and opens streams on them for authorized host components (serverauth.go).
type Server struct {
	tokens    TokenHashes
	authorize AuthorizeDialer

	mu sync.Mutex
	// tunnels by cluster, newest last. More than one is normal for a moment: a restarted
	// agent's new tunnel arrives before the old one is found dead, and must not be refused
	// (the "session already allocated" state of other agents).
	tunnels map[string][]*agentTunnel
	closing bool
}

type agentTunnel struct {
	// id names the tunnel to dialers (TunnelIDHeader), so that they verify the member
	// behind a new tunnel once, on its first stream.
	id        string
	cluster   string
	tokenHash string
	session   *yamux.Session
	remote    string
	since     time.Time
}

// NewServer returns a tower proxy that checks agents' tokens against tokens and dialers with
// authorize.
func NewServer(tokens TokenHashes, authorize AuthorizeDialer) *Server {
	return &Server{tokens: tokens, authorize: authorize, tunnels: map[string][]*agentTunnel{}}
}

// ServeHTTP serves agents (GET /tunnels/<cluster> with an upgrade) and dialers (CONNECT
// <cluster>:443). The listener must speak HTTP/1.1 only: both take over the connection.
func (s *Server) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	switch {
	case req.Method == http.MethodConnect:
		s.serveDial(w, req)
	case req.Method == http.MethodGet && strings.HasPrefix(req.URL.Path, AgentPathPrefix):
		s.serveAgent(w, req)
	case req.Method == http.MethodGet && (req.URL.Path == "/healthz" || req.URL.Path == "/readyz"):
		_, _ = w.Write([]byte("ok"))
	default:
		writeStatus(w, &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusNotFound,
			Reason: metav1.StatusReasonNotFound, Message: fmt.Sprintf("%s %s: a tower proxy serves only agents' tunnels and CONNECT", req.Method, req.URL.Path)}})
	}
}

func (s *Server) serveAgent(w http.ResponseWriter, req *http.Request) {
	cluster := strings.TrimPrefix(req.URL.Path, AgentPathPrefix)
	if errs := validation.IsDNS1123Label(cluster); len(errs) > 0 {
		writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("%q is not a cluster name: %s", cluster, strings.Join(errs, "; "))))
		return
	}
	token, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok || agenttoken.CheckShape(token) != nil {
		writeStatus(w, apierrors.NewUnauthorized("a join token is required (Authorization: Bearer <token>)"))
		return
	}
	hash, ok := s.tokens(cluster)
	if !ok || !agenttoken.Matches(hash, token) {
		// One message for both: which clusters exist is not the caller's business.
		klog.InfoS("Refused an agent", "cluster", cluster, "remote", req.RemoteAddr)
		writeStatus(w, apierrors.NewUnauthorized(fmt.Sprintf("the join token is not valid for cluster %q (revoked, rotated, or issued for another cluster)", cluster)))
		return
	}
	if !strings.EqualFold(req.Header.Get("Upgrade"), UpgradeProtocol) {
		writeStatus(w, apierrors.NewBadRequest("expected Upgrade: "+UpgradeProtocol))
		return
	}
	conn, buffered, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeStatus(w, apierrors.NewInternalError(err))
		return
	}
	_ = conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, agentAccepted()); err != nil {
		_ = conn.Close()
		return
	}
	session, err := yamux.Client(newFrameWriter(withBuffered(conn, buffered.Reader)), muxConfig())
	if err != nil {
		_ = conn.Close()
		return
	}
	t := &agentTunnel{id: rand.Text(), cluster: cluster, tokenHash: hash, session: session, remote: req.RemoteAddr, since: time.Now()}
	if !s.add(t) {
		_ = session.Close()
		return
	}
	klog.InfoS("Agent connected", "cluster", cluster, "remote", req.RemoteAddr)
	go func() {
		<-session.CloseChan()
		s.remove(t)
		klog.InfoS("Agent disconnected", "cluster", cluster, "remote", t.remote, "connectedFor", time.Since(t.since).Round(time.Second))
	}()
}

func (s *Server) add(t *agentTunnel) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.tunnels[t.cluster] = append(s.tunnels[t.cluster], t)
	return true
}

func (s *Server) remove(t *agentTunnel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := slices.DeleteFunc(s.tunnels[t.cluster], func(x *agentTunnel) bool { return x == t })
	if len(list) == 0 {
		delete(s.tunnels, t.cluster)
	} else {
		s.tunnels[t.cluster] = list
	}
}

// newest is the cluster's most recent live tunnel.
func (s *Server) newest(cluster string) *agentTunnel {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.tunnels[cluster]
	for i := len(list) - 1; i >= 0; i-- {
		if !list[i].session.IsClosed() {
			return list[i]
		}
	}
	return nil
}

// Revalidate closes the cluster's tunnels opened with a token that is no longer its token:
// call it whenever a token changes or goes, so revoking takes effect at once.
func (s *Server) Revalidate(cluster string) {
	hash, ok := s.tokens(cluster)
	s.mu.Lock()
	var stale []*agentTunnel
	for _, t := range s.tunnels[cluster] {
		if !ok || t.tokenHash != hash {
			stale = append(stale, t)
		}
	}
	s.mu.Unlock()
	for _, t := range stale {
		klog.InfoS("Closing a tunnel whose token was revoked or rotated", "cluster", cluster, "remote", t.remote)
		_ = t.session.Close()
	}
}

// Connected lists the clusters with a live tunnel.
func (s *Server) Connected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tunnels))
	for c := range s.tunnels {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Shutdown refuses new tunnels, tells agents to go (they reconnect to another replica), and
// closes every tunnel after grace, ending the streams still open on them.
func (s *Server) Shutdown(ctx context.Context, grace time.Duration) {
	s.mu.Lock()
	s.closing = true
	var all []*agentTunnel
	for _, list := range s.tunnels {
		all = append(all, list...)
	}
	s.mu.Unlock()
	for _, t := range all {
		_ = t.session.GoAway()
	}
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for open := true; open; {
		open = false
		for _, t := range all {
			if !t.session.IsClosed() && t.session.NumStreams() > 0 {
				open = true
			}
		}
		if !open {
			break
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			open = false
		case <-ctx.Done():
			open = false
		}
	}
	for _, t := range all {
		_ = t.session.Close()
	}
}

func (s *Server) serveDial(w http.ResponseWriter, req *http.Request) {
	user, err := s.authorize(req)
	if err != nil {
		writeStatus(w, err)
		return
	}
	cluster := req.Host
	if h, _, err := net.SplitHostPort(req.Host); err == nil {
		cluster = h
	}
	t := s.newest(cluster)
	if t == nil {
		writeStatus(w, apierrors.NewServiceUnavailable(ErrAgentNotConnected{Cluster: cluster}.Error()))
		return
	}
	stream, err := t.open()
	if err != nil {
		writeStatus(w, apierrors.NewServiceUnavailable(err.Error()))
		return
	}
	conn, buffered, err := http.NewResponseController(w).Hijack()
	if err != nil {
		_ = stream.Close()
		writeStatus(w, apierrors.NewInternalError(err))
		return
	}
	_ = conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, connectEstablished(t.id)); err != nil {
		_ = conn.Close()
		_ = stream.Close()
		return
	}
	klog.V(4).InfoS("Stream opened", "cluster", cluster, "user", user)
	splice(withBuffered(conn, buffered.Reader), stream)
}

// Dial opens a stream to cluster's agent on the newest of its tunnels to this server, in
// the process that holds the tunnel, without a CONNECT: for a caller that runs the Server
// itself (the tunnel benchmark, hack/bench/bench-tunnel). Host components use a Dialer.
func (s *Server) Dial(cluster string) (net.Conn, error) {
	t := s.newest(cluster)
	if t == nil {
		return nil, ErrAgentNotConnected{Cluster: cluster}
	}
	return t.open()
}

func (t *agentTunnel) open() (net.Conn, error) {
	stream, err := t.session.Open()
	if err != nil {
		return nil, fmt.Errorf("cluster %q: the agent's tunnel failed: %w", t.cluster, err)
	}
	return stream, nil
}

// splice copies both ways until both directions are done, half-closing each side's write
// when its source ends, so a request body's end reaches the other side.
func splice(a, b io.ReadWriteCloser) {
	done := make(chan struct{}, 2)
	cp := func(dst, src io.ReadWriteCloser) {
		buf := buffers.Pool{}.Get()
		_, _ = io.CopyBuffer(dst, src, buf)
		buffers.Pool{}.Put(buf)
		_ = closeWrite(dst)
		done <- struct{}{}
	}
	// Both directions run to their end: one side half-closing (CloseWrite after its
	// request) must still get the other's whole answer.
	go cp(a, b)
	cp(b, a)
	<-done
	<-done
	_ = a.Close()
	_ = b.Close()
}
