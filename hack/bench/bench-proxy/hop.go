package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"

	"k8s.io/client-go/rest"

	"kubesphere.io/multicluster/hack/bench/internal/bench"
)

// runHop serves a bare hop, the floor of any proxy hop: TLS in, a pooled keep-alive
// transport out with the member's credential (impersonating the host user for kind
// "impersonating"), no authentication or authorization. It prints its URL and CA on one
// line each and serves until stdin closes.
func runHop(ctx context.Context, kind string, http1 bool, direct, host *rest.Config, member, agentKubeconfig string) {
	cfg := direct
	if kind == "impersonating" {
		var err error
		cfg, err = impersonating(ctx, host, member, agentKubeconfig)
		check(err)
	}
	if http1 {
		cfg = rest.CopyConfig(cfg)
		cfg.NextProtos = []string{"http/1.1"}
	}
	transport, err := rest.TransportFor(cfg)
	check(err)
	target, err := url.Parse(cfg.Host)
	check(err)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = transport
	srv := httptest.NewUnstartedServer(rp)
	srv.EnableHTTP2 = !http1
	srv.StartTLS()
	defer srv.Close()
	bench.Serve(srv)
}

var hopStdins []io.WriteCloser

// startHop runs a hop of the given kind in a child process (this program with
// --serve-hop) on maxProcs threads (0: Go's default) and returns its URL and a client for
// it. The child ends with this process.
func startHop(kind, protocol string, maxProcs int) (string, *http.Client) {
	self, err := os.Executable()
	check(err)
	// The last of a repeated flag wins: the protocol as this process resolved it.
	cmd := exec.Command(self, append(append([]string{"--serve-hop=" + kind}, os.Args[1:]...), "--hop-protocol="+protocol)...)
	cmd.Stderr = os.Stderr
	if maxProcs > 0 {
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(maxProcs))
	}
	hopURL, ca, stdin, err := bench.StartChild(cmd, "the "+kind+" hop")
	if stdin != nil {
		hopStdins = append(hopStdins, stdin) // kept open (and out of the collector's reach) while this process lives
	}
	check(err)
	cfg := &rest.Config{Host: hopURL, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}
	if protocol == "HTTP/1.1" {
		cfg.NextProtos = []string{"http/1.1"}
	}
	return hopURL, httpClient(cfg)
}
