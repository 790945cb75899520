package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"kubesphere.io/multicluster/pkg/agenttoken"
	"kubesphere.io/multicluster/pkg/tunnel"
)

// ours is a tower proxy and an agent in this process; the agent forwards each stream to
// the backend as raw TCP. Streams are opened in the tower proxy's process (Server.Dial),
// as remotedialer's are (Server.Dialer): the tunnel alone is measured.
type ours struct {
	proxy  *httptest.Server
	server *tunnel.Server
	stop   func()
}

func newOurs(backend *httptest.Server) *ours {
	token, err := agenttoken.New()
	check(err)
	hash := agenttoken.Hash(token)
	server := tunnel.NewServer(func(string) (string, bool) { return hash, true }, func(*http.Request) (string, error) { return "bench", nil })
	proxy := httptest.NewUnstartedServer(server)
	proxy.TLS = &tls.Config{DynamicRecordSizingDisabled: true} // as tower proxy serves
	proxy.Listener = tunnel.BatchListener(proxy.Listener)
	proxy.StartTLS()
	roots := x509.NewCertPool()
	roots.AddCert(proxy.Certificate())
	tokenFile := filepath.Join(os.TempDir(), fmt.Sprintf("bench-tunnel-token-%d", os.Getpid()))
	check(os.WriteFile(tokenFile, []byte(token), 0o600))
	defer os.Remove(tokenFile)
	addr := backend.Listener.Addr().String()
	agent := &tunnel.Agent{Cluster: cluster, TokenFile: tokenFile, Servers: []string{proxy.URL}, RootCAs: roots,
		ServeStreams: func(l net.Listener) error { return forwardRaw(l, addr) }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = agent.Run(ctx); close(done) }()
	for !agent.Connected() {
		time.Sleep(10 * time.Millisecond)
	}
	return &ours{proxy: proxy, server: server, stop: func() { cancel(); <-done }}
}

func (o *ours) dial(context.Context) (net.Conn, error) { return o.server.Dial(cluster) }
func (o *ours) close()                                 { o.stop(); o.proxy.Close() }
