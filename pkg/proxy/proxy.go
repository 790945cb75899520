// Package proxy is the one proxy core: every request to a member cluster, whichever path it
// came by (the clusters/proxy subresource through the host's aggregator, or /clusters/
// {name}/ on this server's own port), is checked, stripped of the client's identity,
// given the caller's identity by impersonation, and streamed to the member here.
// Authorization (clusters/proxy on the cluster's name) happens before, in the server's
// filter chain, for both paths alike.
package proxy

import (
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilproxy "k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apiserver/pkg/endpoints/request"

	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	clusterlisters "kubesphere.io/multicluster/generated/listers/clusters/v1alpha1"
)

// Proxy forwards requests to member clusters.
type Proxy struct {
	clusters clusterlisters.ClusterLister
	backends *Backends
}

// New returns a proxy that finds clusters in the lister and reaches them through backends.
func New(clusters clusterlisters.ClusterLister, backends *Backends) *Proxy {
	return &Proxy{clusters: clusters, backends: backends}
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
	b, err := p.backends.get(c)
	if err != nil {
		responder.Error(w, req, apierrors.NewServiceUnavailable(err.Error()))
		return
	}

	location := *b.endpoint
	location.Path = strings.TrimSuffix(location.Path, "/") + cleaned
	location.RawPath = ""
	// Upgrade requests (exec, attach, port-forward) are dialed with this location as is:
	// the query carries the command and streams, so it must be on it.
	location.RawQuery = req.URL.RawQuery

	out := req.WithContext(req.Context())
	out.Header = req.Header.Clone()
	stripIdentity(out.Header)
	impersonate(out.Header, u)
	if b.bearer != "" {
		out.Header.Set("Authorization", "Bearer "+b.bearer)
	}
	handler := &utilproxy.UpgradeAwareHandler{
		Location:                  &location,
		Transport:                 b.transport,
		UseLocationHost:           true,
		RejectForwardingRedirects: true,
		Responder:                 responder,
	}
	handler.ServeHTTP(w, out)
}

// statusResponder turns transport errors into a 503 that names the cluster, so a client
// sees why, not a bare "EOF".
type statusResponder struct {
	cluster string
	inner   utilproxy.ErrorResponder
}

func (s statusResponder) Error(w http.ResponseWriter, req *http.Request, err error) {
	if _, ok := err.(apierrors.APIStatus); !ok {
		err = apierrors.NewServiceUnavailable(fmt.Sprintf("cluster %q is unreachable: %v", s.cluster, err))
	}
	s.inner.Error(w, req, err)
}
