package tunnel

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"

	"kubesphere.io/multicluster/internal/buffers"
	"kubesphere.io/multicluster/internal/stdlog"
)

// NewForwarder returns the agent's handler: every request from the host goes to the one
// API server of cfg (the member's own), with cfg's credential (the agent's service
// account) in place of anything the request carried. Paths are kept, the target never
// changes: the agent is not a proxy into the member's network. Identity comes from the
// Impersonate-* headers cluster-apiserver set; the member's RBAC lets the agent's service
// account impersonate and nothing more.
func NewForwarder(cluster string, cfg *rest.Config) (http.Handler, error) {
	target, err := url.Parse(cfg.Host)
	if err != nil || target.Host == "" {
		return nil, fmt.Errorf("the member's API server address %q is not a URL", cfg.Host)
	}
	if target.Scheme == "" {
		target.Scheme = "https"
	}
	// HTTP/1.1 with keep-alive for every request but watches: upgrades (exec, attach,
	// port-forward) cannot go over HTTP/2, and next to the member HTTP/1.1 was the faster
	// of the two in bench-proxy --member=member2 (docs/benchmarks.md).
	h1 := rest.CopyConfig(cfg)
	h1.NextProtos = []string{"http/1.1"}
	rt1, err := rest.TransportFor(h1)
	if err != nil {
		return nil, err
	}
	// Watches go over HTTP/2, where the member offers it: over HTTP/1.1 each open watch held
	// a TLS connection of its own to the member, with its buffers and two goroutines; over
	// one HTTP/2 connection many watches cost the agent about half the memory and
	// delivered their events sooner.
	rt2, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, err
	}
	rewrite := func(r *httputil.ProxyRequest) {
		r.Out.URL.Scheme, r.Out.URL.Host = target.Scheme, target.Host
		r.Out.Host = target.Host
		r.Out.Header.Del("Authorization")
		// The host sets X-Forwarded-For to the caller's address; keep it for the member's audit log.
		r.Out.Header["X-Forwarded-For"] = r.In.Header["X-Forwarded-For"]
	}
	onError := func(w http.ResponseWriter, req *http.Request, err error) {
		// Worded as cluster-apiserver words an unreachable Direct member.
		writeStatus(w, apierrors.NewServiceUnavailable(fmt.Sprintf("cluster %q is unreachable: its agent cannot reach the API server at %s: %v", cluster, target.Host, err)))
	}
	others := &httputil.ReverseProxy{Rewrite: rewrite, Transport: rt1, BufferPool: buffers.Pool{}, ErrorHandler: onError, ErrorLog: stdlog.V2}
	// A watch holds its copy buffer as long as it is open, and its events are small: 8 KiB
	// buffers, not the 32 KiB that big responses are copied with.
	watches := &httputil.ReverseProxy{Rewrite: rewrite, Transport: rt2, BufferPool: buffers.SmallPool{}, ErrorHandler: onError, ErrorLog: stdlog.V2}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWatch(r) {
			watches.ServeHTTP(w, r)
			return
		}
		others.ServeHTTP(w, r)
	}), nil
}

// isWatch tells a watch from other requests as kube-apiserver reads the watch parameter:
// present and neither "0" nor "false". pkg/proxy reads member requests with
// k8s.io/apiserver's RequestInfoFactory instead; the agent does not link k8s.io/apiserver
// (its binary's pages are most of its RSS), and only this one parameter matters here. A
// watch over a WebSocket is an upgrade, which only HTTP/1.1 carries (Go's transport would
// dial HTTP/1.1 for it anyway; here it joins the other HTTP/1.1 connections), and the
// legacy /watch/ paths are not told apart: both stay on HTTP/1.1.
func isWatch(r *http.Request) bool {
	if !strings.Contains(r.URL.RawQuery, "watch") || r.Header.Get("Upgrade") != "" {
		return false
	}
	v := r.URL.Query()["watch"]
	return len(v) > 0 && v[0] != "0" && !strings.EqualFold(v[0], "false")
}
