package cluster

import (
	"context"
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/runtime"
	utilproxy "k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apiserver/pkg/registry/rest"

	"kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/pkg/proxy"
)

// ProxyREST is the clusters/proxy subresource: the rest of the URL after /proxy goes to
// the member through the proxy core.
type ProxyREST struct {
	Proxy *proxy.Proxy
}

var _ rest.Connecter = &ProxyREST{}

// New returns the options type of the subresource.
func (r *ProxyREST) New() runtime.Object { return &clusters.ClusterProxyOptions{} }

// Destroy is a no-op: the subresource holds no storage.
func (r *ProxyREST) Destroy() {}

// ConnectMethods are every method a Kubernetes client uses.
func (r *ProxyREST) ConnectMethods() []string {
	return []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
}

// NewConnectOptions: the subpath after /proxy becomes the options' path.
func (r *ProxyREST) NewConnectOptions() (runtime.Object, bool, string) {
	return &clusters.ClusterProxyOptions{}, true, "path"
}

// Connect returns the handler that proxies to cluster name.
func (r *ProxyREST) Connect(_ context.Context, name string, opts runtime.Object, responder rest.Responder) (http.Handler, error) {
	o, ok := opts.(*clusters.ClusterProxyOptions)
	if !ok {
		return nil, fmt.Errorf("invalid options object: %#v", opts)
	}
	errs := utilproxy.NewErrorResponder(responder)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.Proxy.Serve(w, req, name, o.Path, errs)
	}), nil
}
