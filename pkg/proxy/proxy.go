// Package proxy is the one proxy core: every request to a member cluster, whichever path it
// came by (the clusters/proxy subresource through the host's aggregator, or /clusters/
// {name}/ on this server's own port), is checked, stripped of the client's identity,
// given the caller's identity by impersonation, and streamed to the member here.
// Authorization (clusters/proxy on the cluster's name) happens before, in the server's
// filter chain, for both paths alike.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	utilproxy "k8s.io/apimachinery/pkg/util/proxy"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/endpoints/request"

	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	clusterlisters "kubesphere.io/multicluster/generated/listers/clusters/v1alpha1"
	"kubesphere.io/multicluster/internal/buffers"
	"kubesphere.io/multicluster/internal/stdlog"
	"kubesphere.io/multicluster/pkg/clusterconn"
)

// Proxy forwards requests to member clusters.
type Proxy struct {
	clusters clusterlisters.ClusterLister
	backends *clusterconn.Backends
	// stopping ends every request still proxied when Shutdown's grace is over.
	stopping context.Context
	stop     context.CancelFunc
}

// New returns a proxy that finds clusters in the lister and reaches them through backends.
func New(clusters clusterlisters.ClusterLister, backends *clusterconn.Backends) *Proxy {
	stopping, stop := context.WithCancel(context.Background())
	return &Proxy{clusters: clusters, backends: backends, stopping: stopping, stop: stop}
}

// Shutdown ends every proxied request still running grace from now: watches, logs -f and
// port-forwards never end by themselves, and would hold a stopping server for its whole
// shutdown timeout. Their clients reconnect, to another replica.
func (p *Proxy) Shutdown(grace time.Duration) {
	time.AfterFunc(grace, p.stop)
}

// Serve forwards req to path on cluster, as the user in req's context. Errors are written
// by responder as Kubernetes Status objects.
func (p *Proxy) Serve(w http.ResponseWriter, req *http.Request, cluster, path string, responder utilproxy.ErrorResponder) {
	responder = statusResponder{cluster: cluster, inner: responder}
	u, ok := request.UserFrom(req.Context())
	if !ok || u.GetName() == "" {
		responder.Error(w, req, apierrors.NewUnauthorized("no user in the request"))
		return
	}
	c, err := p.clusters.Get(cluster)
	if apierrors.IsNotFound(err) {
		responder.Error(w, req, apierrors.NewNotFound(v1alpha1.Resource("clusters"), cluster))
		return
	} else if err != nil {
		responder.Error(w, req, apierrors.NewInternalError(err))
		return
	}
	cleaned, err := cleanPath(path)
	if err != nil {
		responder.Error(w, req, apierrors.NewBadRequest(err.Error()))
		return
	}
	// Connect verifies that the member is the one the Cluster pins before anything is
	// sent to it; its errors say first what is wrong with the connection itself.
	b, err := p.backends.Connect(req.Context(), c)
	if err != nil {
		var status apierrors.APIStatus
		if !errors.As(err, &status) && !errors.Is(err, clusterconn.ErrUnverified) {
			err = apierrors.NewServiceUnavailable(err.Error()) // the Cluster or its Secret make no connection
		}
		responder.Error(w, req, err)
		return
	}
	if c.Status.UID == "" {
		// Fail closed: a member is reached only once a host component pinned who it is.
		responder.Error(w, req, apierrors.NewServiceUnavailable(fmt.Sprintf(
			"cluster %q has no verified identity yet (status.uid): controller-manager pins it at its first successful probe; see the Cluster's Ready condition", cluster)))
		return
	}

	location := *b.Endpoint
	location.Path = strings.TrimSuffix(location.Path, "/") + cleaned
	location.RawPath = ""
	// Upgrade requests (exec, attach, port-forward) are dialed with this location as is:
	// the query carries the command and streams, so it must be on it.
	location.RawQuery = req.URL.RawQuery

	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	defer context.AfterFunc(p.stopping, cancel)()
	client := &clientWriter{ResponseWriter: w}
	defer endedByClient(func() bool {
		// The client's own context, not ctx: a response cut at shutdown is no clean end,
		// unless it is a stream that never ends by itself. Asked only after an abort.
		return req.Context().Err() != nil || client.failed.Load() || (p.stopping.Err() != nil && isStream(req.URL.Query()))
	})
	out := req.WithContext(ctx)
	out.Header = req.Header.Clone()
	stripIdentity(out.Header)
	impersonate(out.Header, u)
	// The member records the request under this server's audit ID, so that the host's
	// audit event and the member's can be matched (kube-apiserver takes a caller's Audit-ID).
	if id, _ := audit.AuditIDFrom(req.Context()); id != "" {
		out.Header.Set(auditinternal.HeaderAuditID, string(id))
	}
	if b.Bearer != "" {
		out.Header.Set("Authorization", "Bearer "+b.Bearer)
	}
	if httpstream.IsUpgradeRequest(out) {
		// exec, attach, port-forward: the connection is hijacked and spliced to the member.
		handler := &utilproxy.UpgradeAwareHandler{
			Location:                  &location,
			Transport:                 b.Transport,
			UseLocationHost:           true,
			RejectForwardingRedirects: true,
			Responder:                 responder,
		}
		handler.ServeHTTP(w, out)
		return
	}
	// Every other request, watches and logs -f included, is a plain reverse proxy whose
	// copy buffers are pooled: a fresh 32 KiB buffer per request was most of this
	// server's garbage under load.
	out.URL = &location
	out.Host = location.Host
	rp := &httputil.ReverseProxy{
		// Rewrite (rather than Director) drops the client's X-Forwarded-* and Forwarded
		// headers; the member's audit log gets the caller's address from ours.
		Rewrite:    func(r *httputil.ProxyRequest) { r.SetXForwarded() },
		Transport:  b.Transport,
		BufferPool: buffers.Pool{},
		ModifyResponse: func(resp *http.Response) error {
			if err := refuseRedirect(resp); err != nil {
				return err // answered by this server: its own headers stay
			}
			dropHostCopies(w.Header(), resp.Header)
			return nil
		},
		ErrorHandler: responder.Error,
		ErrorLog:     stdlog.V2,
	}
	rp.ServeHTTP(client, out)
}

// endedByClient, deferred in Serve, ends the request normally when the reverse proxy
// aborts it (http.ErrAbortHandler) and over() says the abort was not the member's doing: its
// client hung up (a write to it failed, or its context ended), or the server ended a watch
// or logs -f at shutdown. A client closing its watch is the normal end of a watch, and the
// audit event must say so with the member's status, not record a panic with code 500. Any
// other panic, and an abort while the client still listens (the member failed mid-answer:
// the client must see a cut response, not a clean end), goes on to the panic filter.
func endedByClient(over func() bool) {
	r := recover()
	if r == nil {
		return
	}
	if r == http.ErrAbortHandler && over() {
		return
	}
	panic(r)
}

// isStream tells a watch or logs -f from requests whose answer has an end.
func isStream(q url.Values) bool {
	for _, key := range []string{"watch", "follow"} {
		if v, ok := q[key]; ok && len(v) > 0 && v[0] != "0" && !strings.EqualFold(v[0], "false") {
			return true
		}
	}
	return false
}

// clientWriter records whether a write to the client failed: the client may be gone
// before the server cancels the request's context.
type clientWriter struct {
	http.ResponseWriter
	failed atomic.Bool
}

func (c *clientWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	if err != nil {
		c.failed.Store(true)
	}
	return n, err
}

// Unwrap lets http.ResponseController (the reverse proxy's flushes) reach the writer.
func (c *clientWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// memberOwnedHeaders are set by this server's filters before the member answers
// (WithAuditInit, WithCacheControl) and sent by the member too; the reverse proxy adds the
// member's values to ours, so a client would see each twice.
var memberOwnedHeaders = []string{auditinternal.HeaderAuditID, "Cache-Control"}

// dropHostCopies removes this server's value of each header the member's response sets
// itself: the member's Audit-ID is ours (sent with the request), and its Cache-Control is
// the one that belongs to what it serves.
func dropHostCopies(ours, member http.Header) {
	for _, name := range memberOwnedHeaders {
		if len(member.Values(name)) > 0 {
			ours.Del(name)
		}
	}
}

// refuseRedirect stops a member (or whatever answers at its address) from sending the
// client elsewhere with its credentials: a redirect becomes a 502.
func refuseRedirect(resp *http.Response) error {
	if resp.StatusCode < 300 || resp.StatusCode > 399 || resp.Header.Get("Location") == "" {
		return nil
	}
	_ = resp.Body.Close()
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusBadGateway, Reason: metav1.StatusReasonInternalError,
		Message: fmt.Sprintf("the cluster's API server answered with a redirect to %q, which the proxy does not follow", resp.Header.Get("Location")),
	}}
}

// statusResponder turns transport errors into a 503 that names the cluster, so a client
// sees why, not a bare "EOF".
type statusResponder struct {
	cluster string
	inner   utilproxy.ErrorResponder
}

func (s statusResponder) Error(w http.ResponseWriter, req *http.Request, err error) {
	// A member that turned out to be another cluster, on a new connection, is refused with
	// its own Status, however deep the transport wrapped it.
	var mismatch *clusterconn.IdentityError
	if errors.As(err, &mismatch) {
		err = mismatch
	}
	if _, ok := err.(apierrors.APIStatus); !ok {
		err = apierrors.NewServiceUnavailable(fmt.Sprintf("cluster %q is unreachable: %v", s.cluster, err))
	}
	s.inner.Error(w, req, err)
}
