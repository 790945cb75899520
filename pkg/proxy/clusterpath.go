package proxy

import (
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	"k8s.io/apiserver/pkg/endpoints/request"

	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
)

// ClusterPathPrefix is the path on this server's own port that proxies to a member:
// /clusters/{name}/{path}. A kubeconfig whose server is https://<this>/clusters/member1
// works with any Kubernetes client.
const ClusterPathPrefix = "/clusters/"

// RequestInfoResolver makes /clusters/{name}/... a request on the clusters/proxy
// subresource, so the server's authorization filter checks exactly what it checks for
// the subresource path: the verb for clusters/proxy on resourceName {name}. On both paths
// an upgrade request (exec, attach, port-forward; WebSocket or SPDY) is a "create": it runs
// commands or opens ports whatever its method, and WebSocket upgrades are GETs.
type RequestInfoResolver struct {
	Delegate request.RequestInfoResolver
}

// NewRequestInfo implements request.RequestInfoResolver.
func (r RequestInfoResolver) NewRequestInfo(req *http.Request) (*request.RequestInfo, error) {
	if !strings.HasPrefix(req.URL.Path, ClusterPathPrefix) {
		info, err := r.Delegate.NewRequestInfo(req)
		if err == nil && isProxyInfo(info) && httpstream.IsUpgradeRequest(req) {
			info.Verb = "create"
		}
		return info, err
	}
	parts := strings.Split(strings.TrimPrefix(req.URL.Path, "/"), "/")
	name := ""
	if len(parts) > 1 {
		name = parts[1]
	}
	return &request.RequestInfo{
		IsResourceRequest: true,
		Path:              req.URL.Path,
		Verb:              verbFor(req),
		APIPrefix:         "apis",
		APIGroup:          v1alpha1.GroupName,
		APIVersion:        v1alpha1.SchemeGroupVersion.Version,
		Resource:          "clusters",
		Subresource:       "proxy",
		Name:              name,
		Parts:             parts,
	}, nil
}

// isProxyInfo tells whether info is a request on the clusters/proxy subresource.
func isProxyInfo(info *request.RequestInfo) bool {
	return info != nil && info.IsResourceRequest && info.APIGroup == v1alpha1.GroupName &&
		info.Resource == "clusters" && info.Subresource == "proxy"
}

// verbFor maps a request to the verb checked on clusters/proxy: the HTTP method's, as
// Kubernetes does for connect subresources, except that every upgrade is a create.
func verbFor(req *http.Request) string {
	if httpstream.IsUpgradeRequest(req) {
		return "create"
	}
	method := req.Method
	switch method {
	case http.MethodGet, http.MethodHead:
		return "get"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		return "delete"
	}
	return strings.ToLower(method)
}

// ClusterPathHandler serves /clusters/{name}/{path} through the proxy core. The cluster
// is the name the authorization filter checked: both come from the same RequestInfo.
func (p *Proxy) ClusterPathHandler(codecs runtime.NegotiatedSerializer) http.Handler {
	responder := negotiatedResponder{codecs: codecs}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		info, ok := request.RequestInfoFrom(req.Context())
		if !ok || info.Resource != "clusters" || info.Subresource != "proxy" || info.Name == "" {
			responder.Error(w, req, apierrors.NewNotFound(v1alpha1.Resource("clusters"), ""))
			return
		}
		// The rest of the escaped path, so cleanPath sees encodings as the client sent them.
		escaped := strings.TrimPrefix(req.URL.EscapedPath(), ClusterPathPrefix)
		name, rest, _ := strings.Cut(escaped, "/")
		if name != info.Name {
			responder.Error(w, req, apierrors.NewBadRequest("the cluster name in the path must not be percent-encoded"))
			return
		}
		p.Serve(w, req, info.Name, "/"+rest, responder)
	})
}

type negotiatedResponder struct{ codecs runtime.NegotiatedSerializer }

func (n negotiatedResponder) Error(w http.ResponseWriter, req *http.Request, err error) {
	responsewriters.ErrorNegotiated(err, n.codecs, schema.GroupVersion{}, w, req)
}
