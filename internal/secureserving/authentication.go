package secureserving

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
)

// RequestHeaderOptions are the front proxy's (the host's aggregator's) flags.
type RequestHeaderOptions struct {
	ClientCAFile        string
	UsernameHeaders     []string
	UIDHeaders          []string
	GroupHeaders        []string
	ExtraHeaderPrefixes []string
	AllowedNames        []string
}

// AuthenticationOptions are the flags of the delegated authentication.
type AuthenticationOptions struct {
	// RemoteKubeConfigFile is the host that reviews tokens and holds the client CAs; empty
	// means the host kubeconfig given to Options.Config (the command's --kubeconfig), or
	// in-cluster.
	RemoteKubeConfigFile string
	// CacheTTL is how long a TokenReview answer is kept.
	CacheTTL      time.Duration
	ClientCAFile  string
	RequestHeader RequestHeaderOptions
	// SkipInClusterLookup: the client CAs not given by flags are not read from the host.
	SkipInClusterLookup bool
	// TolerateInClusterLookupFailure: the front proxy's configuration not read from the
	// host does not fail the start (requests are then authenticated without it).
	TolerateInClusterLookupFailure bool
}

// NewAuthenticationOptions returns upstream's defaults.
func NewAuthenticationOptions() *AuthenticationOptions {
	return &AuthenticationOptions{
		CacheTTL: 10 * time.Second,
		RequestHeader: RequestHeaderOptions{
			UsernameHeaders:     []string{"x-remote-user"},
			GroupHeaders:        []string{"x-remote-group"},
			ExtraHeaderPrefixes: []string{"x-remote-extra-"},
		},
	}
}

// AddFlags adds the flags, with k8s.io/apiserver's names and help.
func (s *AuthenticationOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&s.RemoteKubeConfigFile, "authentication-kubeconfig", s.RemoteKubeConfigFile,
		"Kubeconfig of the host API server that reviews callers' tokens (tokenreviews.authentication.k8s.io) and holds the client CAs (configmap kube-system/extension-apiserver-authentication). Empty means --kubeconfig, or in-cluster.")
	fs.DurationVar(&s.CacheTTL, "authentication-token-webhook-cache-ttl", s.CacheTTL,
		"The duration to cache responses from the webhook token authenticator.")
	fs.StringVar(&s.ClientCAFile, "client-ca-file", s.ClientCAFile, ""+
		"If set, any request presenting a client certificate signed by one of "+
		"the authorities in the client-ca-file is authenticated with an identity "+
		"corresponding to the CommonName of the client certificate.")
	r := &s.RequestHeader
	fs.StringSliceVar(&r.UsernameHeaders, "requestheader-username-headers", r.UsernameHeaders, ""+
		"List of request headers to inspect for usernames. X-Remote-User is common.")
	fs.StringSliceVar(&r.UIDHeaders, "requestheader-uid-headers", r.UIDHeaders, ""+
		"List of request headers to inspect for UIDs. X-Remote-Uid is suggested. Requires the RemoteRequestHeaderUID feature to be enabled.")
	fs.StringSliceVar(&r.GroupHeaders, "requestheader-group-headers", r.GroupHeaders, ""+
		"List of request headers to inspect for groups. X-Remote-Group is suggested.")
	fs.StringSliceVar(&r.ExtraHeaderPrefixes, "requestheader-extra-headers-prefix", r.ExtraHeaderPrefixes, ""+
		"List of request header prefixes to inspect. X-Remote-Extra- is suggested.")
	fs.StringVar(&r.ClientCAFile, "requestheader-client-ca-file", r.ClientCAFile, ""+
		"Root certificate bundle to use to verify client certificates on incoming requests "+
		"before trusting usernames in headers specified by --requestheader-username-headers. "+
		"WARNING: generally do not depend on authorization being already done for incoming requests.")
	fs.StringSliceVar(&r.AllowedNames, "requestheader-allowed-names", r.AllowedNames, ""+
		"List of client certificate common names to allow to provide usernames in headers "+
		"specified by --requestheader-username-headers. If empty, any client certificate validated "+
		"by the authorities in --requestheader-client-ca-file is allowed.")
	fs.BoolVar(&s.SkipInClusterLookup, "authentication-skip-lookup", s.SkipInClusterLookup, ""+
		"If false, the authentication-kubeconfig will be used to lookup missing authentication "+
		"configuration from the cluster.")
	fs.BoolVar(&s.TolerateInClusterLookupFailure, "authentication-tolerate-lookup-failure", s.TolerateInClusterLookupFailure, ""+
		"If true, failures to look up missing authentication configuration from the cluster are not considered fatal. "+
		"Note that this can result in authentication that treats all requests as anonymous.")
}

// Validate checks the front-proxy flags as upstream does. The RemoteRequestHeaderUID
// feature is on by default since Kubernetes 1.33 and no command serving this port has
// --feature-gates.
func (s *AuthenticationOptions) Validate() []error {
	var errs []error
	r := s.RequestHeader
	for _, f := range []struct {
		flag   string
		values []string
	}{
		{"requestheader-username-headers", r.UsernameHeaders},
		{"requestheader-uid-headers", r.UIDHeaders},
		{"requestheader-group-headers", r.GroupHeaders},
		{"requestheader-extra-headers-prefix", r.ExtraHeaderPrefixes},
		{"requestheader-allowed-names", r.AllowedNames},
	} {
		for _, v := range f.values {
			if strings.TrimSpace(v) == "" {
				errs = append(errs, fmt.Errorf("empty value in %q", f.flag))
				break
			}
		}
	}
	has := func(values []string, want string) bool {
		for _, v := range values {
			if strings.EqualFold(v, want) {
				return true
			}
		}
		return false
	}
	if len(r.UsernameHeaders) > 0 && !has(r.UsernameHeaders, "X-Remote-User") {
		klog.Warning("--requestheader-username-headers is set without specifying the standard X-Remote-User header - API aggregation will not work")
	}
	if len(r.GroupHeaders) > 0 && !has(r.GroupHeaders, "X-Remote-Group") {
		klog.Warning("--requestheader-group-headers is set without specifying the standard X-Remote-Group header - API aggregation will not work")
	}
	if len(r.ExtraHeaderPrefixes) > 0 && !has(r.ExtraHeaderPrefixes, "X-Remote-Extra-") {
		klog.Warning("--requestheader-extra-headers-prefix is set without specifying the standard X-Remote-Extra- header prefix - API aggregation will not work")
	}
	if len(r.UIDHeaders) > 0 && !has(r.UIDHeaders, "X-Remote-Uid") {
		errs = append(errs, fmt.Errorf("--requestheader-uid-headers is set without specifying the standard X-Remote-Uid header - API aggregation will not work"))
	}
	if s.CacheTTL < 0 {
		errs = append(errs, fmt.Errorf("--authentication-token-webhook-cache-ttl must not be negative"))
	}
	return errs
}
