package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http/httptest"
)

// The route ids, which --routes, the code and the tables use (the package comment says
// what each route is).
const (
	routeDirect       = "direct"
	routeOurs         = "ours"
	routeRemotedialer = "remotedialer"
	routeTLSHop       = "tls-hop"
)

// routeIDs are every route, in the order they are measured and printed.
var routeIDs = []string{routeDirect, routeOurs, routeRemotedialer, routeTLSHop}

// route opens one raw TCP stream to the backend.
type route struct {
	id   string
	dial func(ctx context.Context) (net.Conn, error)
}

// cluster is the name the tunnels know the backend's side by.
const cluster = "bench"

// newRoutes sets up every route's relay in this process and returns the routes, in the
// order of routeIDs, and what closes the relays.
func newRoutes(backend *httptest.Server) ([]route, func()) {
	ours := newOurs(backend)
	rd := newRemotedialer(backend)
	hop := newTLSHop(backend)
	routes := []route{
		{routeDirect, func(ctx context.Context) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", backend.Listener.Addr().String())
		}},
		{routeOurs, ours.dial},
		{routeRemotedialer, rd.dial},
		{routeTLSHop, hop.dial},
	}
	return routes, func() { hop.close(); rd.close(); ours.close() }
}

// routeByID is the route with id id.
func routeByID(routes []route, id string) route {
	for _, r := range routes {
		if r.id == id {
			return r
		}
	}
	panic("no route " + id)
}

// forwardRaw splices each stream to addr, as remotedialer's client dials for each of its
// connections.
func forwardRaw(l net.Listener, addr string) error {
	for {
		stream, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer stream.Close()
			backend, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer backend.Close()
			done := make(chan struct{})
			go func() {
				_, _ = io.Copy(backend, stream)
				_ = backend.(*net.TCPConn).CloseWrite()
				close(done)
			}()
			_, _ = io.Copy(stream, backend)
			_ = stream.Close()
			<-done
		}()
	}
}

// tlsHop is the plainest encrypted relay, as a yardstick: each stream gets a TLS connection
// of its own to a relay end in this process, which dials the backend and copies. So every
// byte crosses one more loopback TCP connection and is encrypted once more, as in a
// tunnel, but nothing is multiplexed, framed or batched.
type tlsHop struct {
	l    net.Listener
	addr string
	cfg  *tls.Config
}

func newTLSHop(backend *httptest.Server) *tlsHop {
	// The relay end serves the backend's own certificate (httptest's, valid for 127.0.0.1).
	roots := x509.NewCertPool()
	roots.AddCert(backend.Certificate())
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	l := tls.NewListener(raw, &tls.Config{Certificates: backend.TLS.Certificates, DynamicRecordSizingDisabled: true})
	go func() { _ = forwardRaw(l, backend.Listener.Addr().String()) }()
	return &tlsHop{l: l, addr: raw.Addr().String(), cfg: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", DynamicRecordSizingDisabled: true}}
}

func (h *tlsHop) dial(ctx context.Context) (net.Conn, error) {
	return (&tls.Dialer{Config: h.cfg}).DialContext(ctx, "tcp", h.addr)
}
func (h *tlsHop) close() { _ = h.l.Close() }
