package secureserving

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apiserver/pkg/server/healthz"
	netutils "k8s.io/utils/net"
)

// Config is the secure port built from Options: listening, with its certificates, and the
// authenticator and authorizer of its callers.
type Config struct {
	Serving        *ServingInfo
	Authentication AuthenticationInfo
	Authorization  AuthorizationInfo
}

// Config builds the secure port from validated options: it makes a self-signed
// certificate when none is given, reads the host's client CAs for the delegated
// authentication (a host that refuses them fails the start), and listens (a port in use
// fails the start, not later). It returns nil, and no error, when --secure-port is 0:
// nothing is to be served.
//
// hostKubeconfig is the host the component works on (empty: in-cluster); the reviews go
// there when --authentication-kubeconfig and --authorization-kubeconfig are empty.
func (o *Options) Config(hostKubeconfig string) (*Config, error) {
	if !o.Serving.enabled() {
		return nil, nil
	}
	serving, err := o.Serving.applyTo("localhost", nil, []net.IP{netutils.ParseIPSloppy("127.0.0.1")})
	if err != nil {
		return nil, fmt.Errorf("secure port: %w", err)
	}
	// The host to delegate to is the host this component works on: with no kubeconfig of
	// their own the reviews go there with its identity, as in-cluster they would.
	authn, authz := *o.Authentication, *o.Authorization
	if authn.RemoteKubeConfigFile == "" {
		authn.RemoteKubeConfigFile = hostKubeconfig
	}
	if authz.RemoteKubeConfigFile == "" {
		authz.RemoteKubeConfigFile = hostKubeconfig
	}
	c := &Config{}
	err = authn.applyTo(&c.Authentication, serving)
	if err != nil {
		err = fmt.Errorf("delegated authentication (the host's service account needs the ClusterRole system:auth-delegator and, in kube-system, the Role %s): %w", authenticationRoleName, err)
	} else if err = authz.applyTo(&c.Authorization); err != nil {
		err = fmt.Errorf("delegated authorization: %w", err)
	}
	if err != nil {
		_ = serving.Listener.Close()
		return nil, err
	}
	c.Serving = serving
	return c, nil
}

// Serve serves handler behind the filter chain (filters.go) until ctx ends. It returns
// once serving has started; a listener that fails later ends the process (see
// ServingInfo.Serve).
func (c *Config) Serve(ctx context.Context, handler http.Handler) error {
	if err := c.Serving.Serve(withAuth(handler, c.Authentication, c.Authorization), ctx.Done()); err != nil {
		return fmt.Errorf("serving on %s: %w", c.Serving.Listener.Addr(), err)
	}
	return nil
}

// NewMux returns the paths of the secure port: /metrics from metrics, and /healthz, /livez
// and /readyz, which answer ok while the process serves. A command may add paths to it.
func NewMux(metrics prometheus.Gatherer) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	healthz.InstallHandler(mux)
	healthz.InstallLivezHandler(mux)
	healthz.InstallReadyzHandler(mux)
	return mux
}
