package secureserving

import (
	"context"
	"errors"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
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
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

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
func (s *AuthenticationOptions) applyTo(info *AuthenticationInfo, serving *ServingInfo) error {
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
