package secureserving

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/path"
	unionauthz "k8s.io/apiserver/pkg/authorization/union"
)

// AuthorizationOptions are the flags of the delegated authorization.
type AuthorizationOptions struct {
	// RemoteKubeConfigFile is the host that answers SubjectAccessReviews; empty means the
	// host kubeconfig given to Options.Config (the command's --kubeconfig), or in-cluster.
	RemoteKubeConfigFile string
	AllowCacheTTL        time.Duration
	DenyCacheTTL         time.Duration
	// AlwaysAllowPaths are allowed to anyone, without asking the host: exact paths, or
	// prefixes ending in *.
	AlwaysAllowPaths []string
	// AlwaysAllowGroups may do anything without asking the host (no flag, as upstream):
	// the host's authorizer allows system:masters everything anyway.
	AlwaysAllowGroups []string
}

// NewAuthorizationOptions returns upstream's defaults.
func NewAuthorizationOptions() *AuthorizationOptions {
	return &AuthorizationOptions{
		AllowCacheTTL:     10 * time.Second,
		DenyCacheTTL:      10 * time.Second,
		AlwaysAllowPaths:  []string{"/healthz", "/readyz", "/livez"},
		AlwaysAllowGroups: []string{user.SystemPrivilegedGroup},
	}
}

// AddFlags adds the flags, with k8s.io/apiserver's names and help.
func (s *AuthorizationOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&s.RemoteKubeConfigFile, "authorization-kubeconfig", s.RemoteKubeConfigFile,
		"Kubeconfig of the host API server that authorizes callers (subjectaccessreviews.authorization.k8s.io): /metrics needs get on the non-resource URL /metrics (ClusterRole kubesphere:metrics-reader). Empty means --kubeconfig, or in-cluster.")
	fs.DurationVar(&s.AllowCacheTTL, "authorization-webhook-cache-authorized-ttl", s.AllowCacheTTL,
		"The duration to cache 'authorized' responses from the webhook authorizer.")
	fs.DurationVar(&s.DenyCacheTTL, "authorization-webhook-cache-unauthorized-ttl", s.DenyCacheTTL,
		"The duration to cache 'unauthorized' responses from the webhook authorizer.")
	fs.StringSliceVar(&s.AlwaysAllowPaths, "authorization-always-allow-paths", s.AlwaysAllowPaths,
		"A list of HTTP paths to skip during authorization, i.e. these are authorized without "+
			"contacting the 'core' kubernetes server.")
}

// Validate checks the flags.
func (s *AuthorizationOptions) Validate() []error {
	var errs []error
	if s.AllowCacheTTL < 0 || s.DenyCacheTTL < 0 {
		errs = append(errs, fmt.Errorf("--authorization-webhook-cache-authorized-ttl and --authorization-webhook-cache-unauthorized-ttl must not be negative"))
	}
	if _, err := path.NewAuthorizer(s.AlwaysAllowPaths); err != nil {
		errs = append(errs, fmt.Errorf("--authorization-always-allow-paths: %w", err))
	}
	return errs
}

// AuthorizationInfo is the authorizer of the secure port.
type AuthorizationInfo struct {
	Authorizer authorizer.Authorizer
}

// applyTo builds the authorizer as upstream's DelegatingAuthorizationOptions.ApplyTo
// does: the always-allowed groups, then the always-allowed paths, then the host's
// SubjectAccessReview; no opinion from any of them is a denial.
func (s *AuthorizationOptions) applyTo(info *AuthorizationInfo) error {
	client, err := hostClient(s.RemoteKubeConfigFile, reviewTimeout)
	if err != nil {
		return fmt.Errorf("failed to get delegated authorization kubeconfig: %w", err)
	}
	var chain []unionauthz.NamedAuthorizer
	if len(s.AlwaysAllowGroups) > 0 {
		chain = append(chain, unionauthz.NamedAuthorizer{AuthorizerName: "kubernetes.io/always-allow-groups", Authorizer: privilegedGroups(s.AlwaysAllowGroups)})
	}
	if len(s.AlwaysAllowPaths) > 0 {
		paths, err := path.NewAuthorizer(s.AlwaysAllowPaths)
		if err != nil {
			return err
		}
		chain = append(chain, unionauthz.NamedAuthorizer{AuthorizerName: "kubernetes.io/always-allow-paths", Authorizer: paths})
	}
	sar := &accessReviewer{client: client.AuthorizationV1().RESTClient(), allowTTL: s.AllowCacheTTL, denyTTL: s.DenyCacheTTL,
		backoff: webhookRetryBackoff(), cache: utilcache.NewLRUExpireCache(8192)}
	chain = append(chain, unionauthz.NamedAuthorizer{AuthorizerName: "kubernetes.io/webhook", Authorizer: authorizer.AuthorizerFunc(sar.Authorize)})
	info.Authorizer, err = unionauthz.New(chain...)
	return err
}

// privilegedGroups allows the members of groups everything.
func privilegedGroups(groups []string) authorizer.Authorizer {
	return authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		if a.GetUser() == nil {
			return authorizer.DecisionNoOpinion, "Error", errors.New("no user on request")
		}
		for _, g := range a.GetUser().GetGroups() {
			for _, p := range groups {
				if g == p {
					return authorizer.DecisionAllow, "", nil
				}
			}
		}
		return authorizer.DecisionNoOpinion, "", nil
	})
}
