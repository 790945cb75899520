package tunnel

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Dialer opens streams to Agent clusters through the tower proxies: the host side of a
// tunnel, used by cluster-apiserver and controller-manager (pkg/clusterconn). DialerOptions
// builds one from flags.
type Dialer struct {
	// Servers are the tower proxy URLs (https://host:port); a name with several addresses
	// (a headless Service) is every replica.
	Servers []*url.URL
	// TLS trusts the tower proxies' serving CA and carries this component's client
	// certificate, if it has one.
	TLS *tls.Config
	// Bearer is this component's token, for a tower proxy that authenticates dialers by
	// token review; empty with a client certificate.
	Bearer func() string
	// Timeout bounds dialing and the CONNECT exchange with one tower proxy.
	Timeout time.Duration
}

// DialCluster opens a stream to cluster's agent. It tries every tower proxy replica, in an
// order that spreads load, until one has the cluster's tunnel; when none has, the error is
// ErrAgentNotConnected.
func (d *Dialer) DialCluster(ctx context.Context, cluster string) (net.Conn, error) {
	type replica struct {
		server *url.URL
		addr   string
	}
	var addrs []replica
	for _, s := range d.Servers {
		for _, a := range resolveAll(ctx, s) {
			addrs = append(addrs, replica{s, a})
		}
	}
	if len(addrs) == 0 {
		return nil, errors.New("no tower proxy is configured to reach Agent clusters")
	}
	start := rand.N(len(addrs))
	var errs []error
	notConnected := 0
	for i := range addrs {
		a := addrs[(start+i)%len(addrs)]
		conn, err := d.dialOne(ctx, a.server, a.addr, cluster)
		if err == nil {
			return conn, nil
		}
		if errors.As(err, new(ErrAgentNotConnected)) {
			notConnected++
		} else {
			errs = append(errs, fmt.Errorf("tower proxy %s: %w", a.addr, err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	if notConnected > 0 && len(errs) == 0 {
		return nil, ErrAgentNotConnected{Cluster: cluster}
	}
	if notConnected > 0 {
		errs = append([]error{ErrAgentNotConnected{Cluster: cluster}}, errs...)
	}
	return nil, errors.Join(errs...)
}

func (d *Dialer) dialOne(ctx context.Context, server *url.URL, addr, cluster string) (net.Conn, error) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	dialCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cfg := d.TLS.Clone()
	cfg.ServerName = server.Hostname()
	cfg.NextProtos = []string{"http/1.1"}
	td := tls.Dialer{NetDialer: &net.Dialer{KeepAlive: 30 * time.Second}, Config: cfg}
	conn, err := td.DialContext(dialCtx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if deadline, ok := dialCtx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	authz := ""
	if d.Bearer != nil {
		if t := d.Bearer(); t != "" {
			// Written into the request as is: a byte that could end or add a header is refused.
			if strings.ContainsFunc(t, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
				_ = conn.Close()
				return nil, errors.New("this component's bearer token holds a space or control character; it cannot be sent to a tower proxy")
			}
			authz = "Authorization: Bearer " + t + "\r\n"
		}
	}
	if _, err := io.WriteString(conn, connectRequest(cluster, authz)); err != nil {
		_ = conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer conn.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			// This replica holds no tunnel of the cluster: the caller tries the next.
			return nil, ErrAgentNotConnected{Cluster: cluster}
		}
		return nil, statusError(resp)
	}
	_ = conn.SetDeadline(time.Time{})
	return stream{Conn: withBuffered(conn, br), tunnel: resp.Header.Get(TunnelIDHeader)}, nil
}

// stream is a connection to an agent through a tower proxy.
type stream struct {
	net.Conn
	tunnel string
}

// TunnelID is the tunnel the stream runs on ("" from a tower proxy that does not say).
func (s stream) TunnelID() string { return s.tunnel }

// CloseWrite half-closes, as the connection under it does (upgraded streams need it).
func (s stream) CloseWrite() error { return closeWrite(s.Conn) }
