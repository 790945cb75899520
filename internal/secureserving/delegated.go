package secureserving

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
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
