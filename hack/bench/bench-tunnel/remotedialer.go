package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rancher/remotedialer"
	"github.com/sirupsen/logrus"
)

// silenceRemotedialer discards remotedialer's log (logrus), as main does klog's: the
// tables are the output.
func silenceRemotedialer() { logrus.SetOutput(io.Discard) }

// rd is remotedialer with its own server and client in this process, as Rancher runs it.
// This file is the only user of remotedialer, gorilla/websocket and logrus, which is why
// the benchmarks have a go.mod of their own.
type rd struct {
	srv    *httptest.Server
	server *remotedialer.Server
	stop   func()
	addr   string
}

func newRemotedialer(backend *httptest.Server) *rd {
	server := remotedialer.New(func(req *http.Request) (string, bool, error) { return cluster, true, nil }, remotedialer.DefaultErrorWriter)
	srv := httptest.NewUnstartedServer(server)
	srv.StartTLS()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	wsURL := "wss" + strings.TrimPrefix(srv.URL, "https") + "/connect"
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			_ = remotedialer.ClientConnect(ctx, wsURL, http.Header{}, &websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: roots}},
				func(string, string) bool { return true }, nil)
		}
	}()
	for !server.HasSession(cluster) {
		time.Sleep(10 * time.Millisecond)
	}
	return &rd{srv: srv, server: server, stop: func() { cancel(); <-done }, addr: backend.Listener.Addr().String()}
}

func (r *rd) dial(ctx context.Context) (net.Conn, error) {
	return r.server.Dialer(cluster)(ctx, "tcp", r.addr)
}
func (r *rd) close() { r.srv.Close(); r.stop() }
