package secureserving

import (
	cliflag "k8s.io/component-base/cli/flag"
	netutils "k8s.io/utils/net"
)

// Options are the flags of the secure port: how it serves, and how its callers are
// authenticated and authorized by the host.
type Options struct {
	Serving        *ServingOptions
	Authentication *AuthenticationOptions
	Authorization  *AuthorizationOptions
}

// NewOptions returns the defaults of a component's secure port: port on loopback, with a
// self-signed certificate named pairName (the file names under --cert-dir).
func NewOptions(pairName string, port int) *Options {
	return &Options{
		Serving: &ServingOptions{
			// Loopback by default, as before: a pod sets --bind-address=0.0.0.0 so that
			// Prometheus and the kubelet reach it.
			BindAddress: netutils.ParseIPSloppy("127.0.0.1"),
			BindPort:    port,
			// No --cert-dir by default: the self-signed certificate is made in memory, since
			// the container's root filesystem is read-only.
			PairName: pairName,
		},
		Authentication: NewAuthenticationOptions(),
		// The kubelet probes /healthz, /readyz and /livez without credentials (the default
		// --authorization-always-allow-paths); everything else needs the host's say.
		Authorization: NewAuthorizationOptions(),
	}
}

// AddFlags adds the flags to fss in the sections "secure serving", "authentication" and
// "authorization", as kube-controller-manager's --help shows them.
func (o *Options) AddFlags(fss *cliflag.NamedFlagSets) {
	o.Serving.AddFlags(fss.FlagSet("secure serving"))
	o.Authentication.AddFlags(fss.FlagSet("authentication"))
	o.Authorization.AddFlags(fss.FlagSet("authorization"))
}

// Validate checks every flag without touching files or the network; a command adds the
// errors to its own.
func (o *Options) Validate() []error {
	var errs []error
	errs = append(errs, o.Serving.Validate()...)
	errs = append(errs, o.Authentication.Validate()...)
	errs = append(errs, o.Authorization.Validate()...)
	return errs
}
