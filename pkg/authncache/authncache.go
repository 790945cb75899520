// Package authncache remembers who a client certificate authenticated as, for a short
// time. k8s.io/apiserver verifies the certificate chain again on every request (TokenReview
// results are cached, certificates are not): on a proxy that forwards every kubectl request
// that verification is a large part of the cost of a hop.
package authncache

import (
	"crypto/sha256"
	"net/http"
	"sort"
	"strings"
	"time"

	utilcache "k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/user"
)

// DefaultTTL is how long a verified certificate is trusted without verifying it again:
// as long as TokenReview results are by default. A CA removed from the trust bundle keeps
// authenticating the certificates it signed for at most this long.
const DefaultTTL = 10 * time.Second

const maxEntries = 4096

// Authenticator caches the responses of a delegate for requests that carry a client
// certificate and no token (no Authorization header, no WebSocket subprotocols). The key is the leaf certificate and the
// front-proxy identity headers (the aggregator's certificate is shared by every user),
// so two requests share an entry only if the delegate could not tell them apart.
type Authenticator struct {
	delegate authenticator.Request
	headers  *authenticatorfactory.RequestHeaderConfig
	ttl      time.Duration
	cache    *utilcache.LRUExpireCache
	now      func() time.Time
}

// New wraps delegate. headers is the server's front-proxy configuration (nil when it has
// none); ttl <= 0 means DefaultTTL.
func New(delegate authenticator.Request, headers *authenticatorfactory.RequestHeaderConfig, ttl time.Duration) *Authenticator {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Authenticator{delegate: delegate, headers: headers, ttl: ttl, cache: utilcache.NewLRUExpireCache(maxEntries), now: time.Now}
}

// AuthenticateRequest implements authenticator.Request.
func (a *Authenticator) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	// Bearer tokens go to the delegate: its token authenticator has its own cache, and a
	// request with both a token and a certificate must be judged as the delegate judges it.
	// A WebSocket request may carry its token in the subprotocol header instead.
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 || req.Header.Get("Authorization") != "" ||
		len(req.Header.Values("Sec-Websocket-Protocol")) > 0 {
		return a.delegate.AuthenticateRequest(req)
	}
	leaf := req.TLS.PeerCertificates[0]
	now := a.now()
	if now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return a.delegate.AuthenticateRequest(req)
	}
	// The key is computed before the delegate runs: it clears the front-proxy headers.
	key := a.key(req)
	if cached, ok := a.cache.Get(key); ok {
		return cached.(*authenticator.Response), true, nil
	}
	resp, ok, err := a.delegate.AuthenticateRequest(req)
	// Anonymous is the delegate's fallback when no authenticator recognised the request
	// (for example while the client CA is still loading): never remember it.
	if ok && err == nil && resp.User.GetName() != user.Anonymous {
		ttl := a.ttl
		if left := leaf.NotAfter.Sub(now); left < ttl {
			ttl = left
		}
		a.cache.Add(key, resp, ttl)
	}
	return resp, ok, err
}

// key is the hash of the certificate chain and of every front-proxy header, by name.
func (a *Authenticator) key(req *http.Request) [sha256.Size]byte {
	h := sha256.New()
	for _, c := range req.TLS.PeerCertificates {
		h.Write(c.Raw)
		h.Write([]byte{0})
	}
	if a.headers != nil {
		for _, names := range [][]string{a.headers.UsernameHeaders.Value(), a.headers.UIDHeaders.Value(), a.headers.GroupHeaders.Value()} {
			for _, name := range names {
				writeHeader(h, name, req.Header.Values(name))
			}
			h.Write([]byte{1})
		}
		var extra []string
		for _, prefix := range a.headers.ExtraHeaderPrefixes.Value() {
			for name := range req.Header {
				if len(name) >= len(prefix) && strings.EqualFold(name[:len(prefix)], prefix) {
					extra = append(extra, name)
				}
			}
		}
		sort.Strings(extra) // map order must not change the key
		for _, name := range extra {
			writeHeader(h, name, req.Header[name])
		}
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

func writeHeader(h interface{ Write([]byte) (int, error) }, name string, values []string) {
	h.Write([]byte(strings.ToLower(name)))
	for _, v := range values {
		h.Write([]byte{0})
		h.Write([]byte(v))
	}
	h.Write([]byte{2})
}
