package tunnel

// Who may dial: the tower proxy decides which host components may open streams (CONNECT);
// agents are never among them.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authnclient "k8s.io/client-go/kubernetes/typed/authentication/v1"

	clustersapi "kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
)

// AuthorizeDialer decides whether a request to open streams (CONNECT) comes from a host
// component allowed to use tunnels. It returns the caller's name for the log.
type AuthorizeDialer func(req *http.Request) (user string, err error)

// DefaultDialers are the host components that may open streams to clusters: the
// ServiceAccounts of cluster-apiserver and controller-manager.
var DefaultDialers = []string{
	clustersapi.ClusterAPIServerUser,
	clustersapi.ControllerManagerUser,
}

// AuthorizeUsers lets in the users named in allowed, known by a client certificate the TLS
// server verified (its common name) or by a token the host's TokenReview accepts.
// Agents' join tokens are not accepted here: an agent can never open streams.
func AuthorizeUsers(allowed []string, reviews authnclient.TokenReviewInterface) AuthorizeDialer {
	cache := &reviewCache{reviews: reviews, entries: map[string]reviewEntry{}}
	return func(req *http.Request) (string, error) {
		user := ""
		switch {
		case req.TLS != nil && len(req.TLS.VerifiedChains) > 0:
			user = req.TLS.PeerCertificates[0].Subject.CommonName
		case strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ") && reviews != nil:
			var err error
			if user, err = cache.review(req.Context(), strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")); err != nil {
				return "", err
			}
		default:
			return "", apierrors.NewUnauthorized("a client certificate or a service account token is required to open streams")
		}
		if !slices.Contains(allowed, user) {
			return "", apierrors.NewForbidden(v1alpha1.Resource("clusters/proxy"), "", fmt.Errorf("user %q may not open streams to clusters (allowed: %s)", user, strings.Join(allowed, ", ")))
		}
		return user, nil
	}
}

// reviewCache keeps TokenReview answers for a minute (refusals for ten seconds), so that
// the host's API server sees one review per component per minute, not one per stream.
type reviewCache struct {
	reviews authnclient.TokenReviewInterface
	mu      sync.Mutex
	entries map[string]reviewEntry
}

type reviewEntry struct {
	user    string
	err     error
	expires time.Time
}

func (c *reviewCache) review(ctx context.Context, token string) (string, error) {
	// Keyed by a hash: the cache holds no token in clear.
	sum := sha256.Sum256([]byte(token))
	key := hex.EncodeToString(sum[:])
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && time.Now().Before(e.expires) {
		return e.user, e.err
	}
	tr, err := c.reviews.Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return "", apierrors.NewServiceUnavailable(fmt.Sprintf("cannot review the token: %v", err))
	}
	e = reviewEntry{user: tr.Status.User.Username, expires: time.Now().Add(time.Minute)}
	if !tr.Status.Authenticated {
		e = reviewEntry{err: apierrors.NewUnauthorized("the token was not accepted by the host"), expires: time.Now().Add(10 * time.Second)}
	}
	c.mu.Lock()
	if len(c.entries) > 1000 {
		clear(c.entries)
	}
	c.entries[key] = e
	c.mu.Unlock()
	return e.user, e.err
}
