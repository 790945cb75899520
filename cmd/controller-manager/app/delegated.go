package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/anonymous"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	unionauthn "k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/authentication/request/websocket"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	tokencache "k8s.io/apiserver/pkg/authentication/token/cache"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/path"
	unionauthz "k8s.io/apiserver/pkg/authorization/union"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// Delegated authentication and authorization, as k8s.io/apiserver's
// DelegatingAuthenticationOptions and DelegatingAuthorizationOptions build them, with the
// same flags and defaults. The TokenReview and SubjectAccessReview calls are made here with
// client-go's typed clients: upstream's webhook plugins link the egress selector (gRPC,
// konnectivity), the OpenTelemetry exporters and CEL.

const (
	// The host's kube-apiserver publishes its client CA and front-proxy configuration here.
	authenticationConfigMapNamespace = metav1.NamespaceSystem
	authenticationConfigMapName      = "extension-apiserver-authentication"
	authenticationRoleName           = "extension-apiserver-authentication-reader"
)

// webhookRetryBackoff is upstream's DefaultAuthWebhookRetryBackoff, for both reviews.
func webhookRetryBackoff() wait.Backoff {
	return wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}
}

// reviewTimeout bounds one TokenReview or SubjectAccessReview, retries included.
const reviewTimeout = 10 * time.Second

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
	// means --kubeconfig, or in-cluster.
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
// feature is on by default since Kubernetes 1.33 and this command has no --feature-gates.
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

// AuthorizationOptions are the flags of the delegated authorization.
type AuthorizationOptions struct {
	// RemoteKubeConfigFile is the host that answers SubjectAccessReviews; empty means
	// --kubeconfig, or in-cluster.
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

// hostClient is a client of the host to delegate to: kubeconfig, or in-cluster when empty.
// The limits are upstream's: the reviews are on the path of every request.
func hostClient(kubeconfig string, timeout time.Duration) (kubernetes.Interface, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig != "" {
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}, &clientcmd.ConfigOverrides{}).ClientConfig()
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst, cfg.Timeout = 200, 400, timeout
	return kubernetes.NewForConfig(cfg)
}

// AuthenticationInfo is the authenticator of the secure port.
type AuthenticationInfo struct {
	Authenticator authenticator.Request
	// RequestHeader names the front proxy's headers, removed from a request once it is
	// authenticated; nil when no front proxy is trusted.
	RequestHeader *requestHeaderConfig
}

// requestHeaderConfig is the front proxy to trust: its CA, the names its client
// certificate may have, and the headers it names the user in.
type requestHeaderConfig struct {
	CAContentProvider   dynamiccertificates.CAContentProvider
	AllowedClientNames  headerrequest.StringSliceProvider
	UsernameHeaders     headerrequest.StringSliceProvider
	UIDHeaders          headerrequest.StringSliceProvider
	GroupHeaders        headerrequest.StringSliceProvider
	ExtraHeaderPrefixes headerrequest.StringSliceProvider
}

// applyTo builds the authenticator, and adds the client CAs to serving, as upstream's
// DelegatingAuthenticationOptions.ApplyTo does: a front-proxy request (requestheader CA),
// then a client certificate (client CA), then a bearer token (the host's TokenReview); a
// request with none of them is system:anonymous, one whose credentials fail is refused.
// The CAs not given by flags are read from the host's configmap
// kube-system/extension-apiserver-authentication, and followed as it changes.
func (s *AuthenticationOptions) applyTo(info *AuthenticationInfo, serving *SecureServingInfo) error {
	client, err := hostClient(s.RemoteKubeConfigFile, 0)
	if err != nil {
		return fmt.Errorf("failed to get delegated authentication kubeconfig: %w", err)
	}
	lookup := !s.SkipInClusterLookup

	var clientCA dynamiccertificates.CAContentProvider
	if s.ClientCAFile != "" {
		if clientCA, err = dynamiccertificates.NewDynamicCAContentFromFile("client-ca-bundle", s.ClientCAFile); err != nil {
			return fmt.Errorf("unable to load client CA provider: %w", err)
		}
	} else if lookup {
		if clientCA, err = dynamiccertificates.NewDynamicCAFromConfigMapController("client-ca", authenticationConfigMapNamespace, authenticationConfigMapName, "client-ca-file", client); err != nil {
			return fmt.Errorf("unable to load configmap based client CA file: %w", err)
		}
		// Its controller reads the configmap only once serving; the front proxy's lookup
		// below reads it now. When that one is given by flags, read it here instead, so that
		// a host that refuses it fails the start in every case (upstream would serve on).
		if s.RequestHeader.ClientCAFile != "" {
			_, err := client.CoreV1().ConfigMaps(authenticationConfigMapNamespace).Get(context.Background(), authenticationConfigMapName, metav1.GetOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				if !s.TolerateInClusterLookupFailure {
					return fmt.Errorf("unable to load configmap based client CA file: %w", err)
				}
				klog.ErrorS(err, "Error looking up in-cluster authentication configuration; continuing, client certificates may not be verified (--authentication-tolerate-lookup-failure)")
			}
		}
	}
	if clientCA != nil {
		serving.addClientCA(clientCA)
	}

	var rh *requestHeaderConfig
	if r := s.RequestHeader; r.ClientCAFile != "" {
		ca, err := dynamiccertificates.NewDynamicCAContentFromFile("request-header", r.ClientCAFile)
		if err != nil {
			return fmt.Errorf("unable to create request header authentication config: %w", err)
		}
		rh = &requestHeaderConfig{
			CAContentProvider:   ca,
			AllowedClientNames:  headerrequest.StaticStringSlice(r.AllowedNames),
			UsernameHeaders:     headerrequest.StaticStringSlice(r.UsernameHeaders),
			UIDHeaders:          headerrequest.StaticStringSlice(r.UIDHeaders),
			GroupHeaders:        headerrequest.StaticStringSlice(r.GroupHeaders),
			ExtraHeaderPrefixes: headerrequest.StaticStringSlice(r.ExtraHeaderPrefixes),
		}
	} else if lookup {
		dynamic, err := newDynamicRequestHeader(client)
		if err != nil {
			return err
		}
		// The one read at start: the host refusing it (no Role
		// extension-apiserver-authentication-reader) fails the start, unless tolerated.
		if err := dynamic.RunOnce(context.Background()); err != nil {
			if !s.TolerateInClusterLookupFailure {
				return fmt.Errorf("unable to load configmap based request-header-client-ca-file: %w", err)
			}
			klog.ErrorS(err, "Error looking up in-cluster authentication configuration; continuing without it, which may treat all requests as anonymous (--authentication-tolerate-lookup-failure)")
		} else {
			rh = &requestHeaderConfig{
				CAContentProvider:   dynamic,
				AllowedClientNames:  headerrequest.StringSliceProviderFunc(dynamic.AllowedClientNames),
				UsernameHeaders:     headerrequest.StringSliceProviderFunc(dynamic.UsernameHeaders),
				UIDHeaders:          headerrequest.StringSliceProviderFunc(dynamic.UIDHeaders),
				GroupHeaders:        headerrequest.StringSliceProviderFunc(dynamic.GroupHeaders),
				ExtraHeaderPrefixes: headerrequest.StringSliceProviderFunc(dynamic.ExtraHeaderPrefixes),
			}
		}
	}

	var authenticators []authenticator.Request
	if rh != nil {
		info.RequestHeader = rh
		serving.addClientCA(rh.CAContentProvider)
		authenticators = append(authenticators, headerrequest.NewDynamicVerifyOptionsSecure(
			rh.CAContentProvider.VerifyOptions, rh.AllowedClientNames,
			rh.UsernameHeaders, rh.UIDHeaders, rh.GroupHeaders, rh.ExtraHeaderPrefixes))
	}
	if clientCA != nil {
		authenticators = append(authenticators, x509request.NewDynamic(clientCA.VerifyOptions, x509request.CommonNameUserConversion))
	}
	tokens := tokencache.New(&tokenReviewer{client: client.AuthenticationV1().RESTClient(), backoff: webhookRetryBackoff()}, false, s.CacheTTL, s.CacheTTL)
	authenticators = append(authenticators, bearertoken.New(tokens), websocket.NewProtocolAuthenticator(tokens))

	// FailOnError: a credential the host rejects is refused (401), never anonymous.
	info.Authenticator = unionauthn.NewFailOnError(
		group.NewAuthenticatedGroupAdder(unionauthn.New(authenticators...)),
		anonymous.NewAuthenticator(nil))
	return nil
}

// dynamicRequestHeader is the front proxy's configuration in the host's configmap: its CA
// and its header names, each followed by a controller (upstream's
// DynamicRequestHeaderController, which lives in pkg/server/options).
type dynamicRequestHeader struct {
	*dynamiccertificates.ConfigMapCAController
	*headerrequest.RequestHeaderAuthRequestController
}

func newDynamicRequestHeader(client kubernetes.Interface) (*dynamicRequestHeader, error) {
	ca, err := dynamiccertificates.NewDynamicCAFromConfigMapController("client-ca", authenticationConfigMapNamespace, authenticationConfigMapName, "requestheader-client-ca-file", client)
	if err != nil {
		return nil, fmt.Errorf("unable to create DynamicCAFromConfigMap controller: %w", err)
	}
	return &dynamicRequestHeader{
		ConfigMapCAController: ca,
		RequestHeaderAuthRequestController: headerrequest.NewRequestHeaderAuthRequestController(
			authenticationConfigMapName, authenticationConfigMapNamespace, client,
			"requestheader-username-headers", "requestheader-uid-headers", "requestheader-group-headers",
			"requestheader-extra-headers-prefix", "requestheader-allowed-names"),
	}, nil
}

// RunOnce reads the configmap; the header names' controller fails when the host refuses.
func (d *dynamicRequestHeader) RunOnce(ctx context.Context) error {
	return utilerrors.NewAggregate([]error{d.ConfigMapCAController.RunOnce(ctx), d.RequestHeaderAuthRequestController.RunOnce(ctx)})
}

// Run follows the configmap until ctx ends.
func (d *dynamicRequestHeader) Run(ctx context.Context, workers int) {
	go d.ConfigMapCAController.Run(ctx, workers)
	go d.RequestHeaderAuthRequestController.Run(ctx, workers)
	<-ctx.Done()
}

var (
	_ dynamiccertificates.CAContentProvider = &dynamicRequestHeader{}
	_ dynamiccertificates.ControllerRunner  = &dynamicRequestHeader{}
)

// tokenReviewer authenticates a bearer token by the host's TokenReview, as upstream's
// webhook token authenticator does with a client: no audiences (the host's own), retries
// on transient errors, a token the host does not accept is not authenticated. Posted with
// the REST client, as upstream does (JSON; the typed client would prefer protobuf).
type tokenReviewer struct {
	client  rest.Interface
	backoff wait.Backoff
}

func (t *tokenReviewer) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
	defer cancel()
	var result *authenticationv1.TokenReview
	err := withRetries(ctx, t.backoff, func() (err error) {
		result = &authenticationv1.TokenReview{}
		return t.client.Post().Resource("tokenreviews").
			Body(&authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}).Do(ctx).Into(result)
	})
	if err != nil {
		klog.ErrorS(err, "Failed to make webhook authenticator request")
		return nil, false, err
	}
	if !result.Status.Authenticated {
		if result.Status.Error != "" {
			return nil, false, errors.New(result.Status.Error)
		}
		return nil, false, nil
	}
	u := result.Status.User
	var extra map[string][]string
	if u.Extra != nil {
		extra = make(map[string][]string, len(u.Extra))
		for k, v := range u.Extra {
			extra[k] = v
		}
	}
	return &authenticator.Response{User: &user.DefaultInfo{Name: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra}}, true, nil
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

// accessReviewer asks the host's SubjectAccessReview, as upstream's webhook authorizer
// does with a client: answers kept by the whole review (user, groups, extra, attributes),
// allowed ones for allowTTL, the others for denyTTL; an error is no decision, and the
// request then fails (500), never passes.
type accessReviewer struct {
	client            rest.Interface
	allowTTL, denyTTL time.Duration
	backoff           wait.Backoff
	cache             *utilcache.LRUExpireCache
}

func (r *accessReviewer) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	review := &authorizationv1.SubjectAccessReview{}
	if u := a.GetUser(); u != nil {
		review.Spec = authorizationv1.SubjectAccessReviewSpec{User: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups()}
		if extra := u.GetExtra(); extra != nil {
			review.Spec.Extra = make(map[string]authorizationv1.ExtraValue, len(extra))
			for k, v := range extra {
				review.Spec.Extra[k] = v
			}
		}
	}
	if a.IsResourceRequest() {
		review.Spec.ResourceAttributes = &authorizationv1.ResourceAttributes{
			Namespace: a.GetNamespace(), Verb: a.GetVerb(), Group: a.GetAPIGroup(), Version: a.GetAPIVersion(),
			Resource: a.GetResource(), Subresource: a.GetSubresource(), Name: a.GetName(),
		}
	} else {
		review.Spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: a.GetPath(), Verb: a.GetVerb()}
	}
	key, err := json.Marshal(review.Spec)
	if err != nil {
		return authorizer.DecisionNoOpinion, "", err
	}
	if cached, ok := r.cache.Get(string(key)); ok {
		review.Status = cached.(authorizationv1.SubjectAccessReviewStatus)
	} else {
		ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
		defer cancel()
		var result *authorizationv1.SubjectAccessReview
		if err := withRetries(ctx, r.backoff, func() (err error) {
			result = &authorizationv1.SubjectAccessReview{}
			return r.client.Post().Resource("subjectaccessreviews").Body(review).Do(ctx).Into(result)
		}); err != nil {
			klog.ErrorS(err, "Failed to make webhook authorizer request")
			return authorizer.DecisionNoOpinion, "", err
		}
		review.Status = result.Status
		ttl := r.denyTTL
		if review.Status.Allowed {
			ttl = r.allowTTL
		}
		r.cache.Add(string(key), review.Status, ttl)
	}
	switch s := review.Status; {
	case s.Denied && s.Allowed:
		return authorizer.DecisionDeny, s.Reason, fmt.Errorf("webhook subject access review returned both allow and deny response")
	case s.Denied:
		return authorizer.DecisionDeny, s.Reason, nil
	case s.Allowed:
		return authorizer.DecisionAllow, s.Reason, nil
	default:
		return authorizer.DecisionNoOpinion, s.Reason, nil
	}
}

// withRetries calls fn until it succeeds, fails for good, or backoff runs out, retrying
// the errors upstream's webhooks retry (connection lost, 500, 504, 429, Retry-After).
func withRetries(ctx context.Context, backoff wait.Backoff, fn func() error) error {
	var last error
	err := wait.ExponentialBackoffWithContext(ctx, backoff, func(context.Context) (bool, error) {
		last = fn()
		switch {
		case last == nil:
			return true, nil
		case shouldRetry(last):
			return false, nil
		default:
			return false, last
		}
	})
	switch {
	case last != nil:
		return last
	case err != nil:
		return fmt.Errorf("webhook call failed: %w", err)
	}
	return nil
}

func shouldRetry(err error) bool {
	if utilnet.IsConnectionReset(err) || utilnet.IsHTTP2ConnectionLost(err) || apierrors.IsInternalError(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) {
		return true
	}
	_, retry := apierrors.SuggestsClientDelay(err)
	return retry
}
