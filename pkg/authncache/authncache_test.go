package authncache

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	"k8s.io/apiserver/pkg/authentication/user"
)

// counting authenticates as the X-Remote-User header if present, else as the leaf's CN,
// and clears the header as the real front-proxy authenticator does.
type counting struct {
	calls     int
	fail      bool
	anonymous bool
}

func (c *counting) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	c.calls++
	if c.fail {
		return nil, false, errors.New("bad certificate")
	}
	if c.anonymous {
		return &authenticator.Response{User: &user.DefaultInfo{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}}, true, nil
	}
	name := req.Header.Get("X-Remote-User")
	req.Header.Del("X-Remote-User")
	if name == "" && req.TLS != nil {
		name = req.TLS.PeerCertificates[0].Subject.CommonName
	}
	return &authenticator.Response{User: &user.DefaultInfo{Name: name, Groups: req.Header.Values("X-Remote-Group")}}, true, nil
}

var headers = &authenticatorfactory.RequestHeaderConfig{
	UsernameHeaders:     headerrequest.StaticStringSlice{"X-Remote-User"},
	UIDHeaders:          headerrequest.StaticStringSlice{"X-Remote-Uid"},
	GroupHeaders:        headerrequest.StaticStringSlice{"X-Remote-Group"},
	ExtraHeaderPrefixes: headerrequest.StaticStringSlice{"X-Remote-Extra-"},
}

func request(cert *x509.Certificate, h http.Header) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/clusters/member1/version", nil)
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	for k, v := range h {
		req.Header[k] = v
	}
	return req
}

func cert(raw string, notAfter time.Time) *x509.Certificate {
	c := &x509.Certificate{Raw: []byte(raw), NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	c.Subject.CommonName = raw
	return c
}

func TestCachesPerCertificateAndIdentityHeaders(t *testing.T) {
	delegate := &counting{}
	a := New(delegate, headers, time.Minute)
	alice := cert("alice", time.Now().Add(time.Hour))
	proxy := cert("front-proxy", time.Now().Add(time.Hour))

	for i := 0; i < 3; i++ {
		resp, ok, err := a.AuthenticateRequest(request(alice, nil))
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, "alice", resp.User.GetName())
	}
	assert.Equal(t, 1, delegate.calls, "one verification for three requests")

	// The front proxy's one certificate carries many users: each is its own entry.
	for _, u := range []string{"bob", "carol", "bob"} {
		resp, _, _ := a.AuthenticateRequest(request(proxy, http.Header{"X-Remote-User": {u}}))
		assert.Equal(t, u, resp.User.GetName())
	}
	assert.Equal(t, 3, delegate.calls)
	resp, _, _ := a.AuthenticateRequest(request(proxy, http.Header{"X-Remote-User": {"bob"}, "X-Remote-Group": {"system:masters"}}))
	assert.Equal(t, []string{"system:masters"}, resp.User.GetGroups(), "a different group is a different identity")
	a.AuthenticateRequest(request(proxy, http.Header{"X-Remote-User": {"bob"}, "X-Remote-Extra-Scopes": {"a"}, "X-Remote-Extra-Other": {"b"}}))
	a.AuthenticateRequest(request(proxy, http.Header{"X-Remote-User": {"bob"}, "X-Remote-Extra-Other": {"b"}, "X-Remote-Extra-Scopes": {"a"}}))
	assert.Equal(t, 5, delegate.calls, "extras are part of the key, in any order")
}

func TestNotCached(t *testing.T) {
	delegate := &counting{}
	a := New(delegate, headers, time.Minute)
	alice := cert("alice", time.Now().Add(time.Hour))
	for i := 0; i < 2; i++ {
		a.AuthenticateRequest(request(alice, http.Header{"Authorization": {"Bearer t"}}))
	}
	assert.Equal(t, 2, delegate.calls, "requests with a token always go to the delegate")
	// A WebSocket request carries its token in the subprotocol header: judged by the
	// delegate every time, and never cached for the certificate alone.
	ws := &counting{}
	b := New(ws, headers, time.Minute)
	mallory := cert("mallory", time.Now().Add(time.Hour))
	for i := 0; i < 2; i++ {
		b.AuthenticateRequest(request(mallory, http.Header{"Sec-Websocket-Protocol": {"base64url.bearer.authorization.k8s.io.dA, v5.channel.k8s.io"}}))
	}
	b.AuthenticateRequest(request(mallory, nil))
	assert.Equal(t, 3, ws.calls, "nothing was cached for the certificate by the WebSocket requests")

	expired := cert("old", time.Now().Add(-time.Second))
	for i := 0; i < 2; i++ {
		a.AuthenticateRequest(request(expired, nil))
	}
	assert.Equal(t, 4, delegate.calls, "an expired certificate is never served from the cache")

	noCert := httptest.NewRequest(http.MethodGet, "/", nil)
	a.AuthenticateRequest(noCert)
	assert.Equal(t, 5, delegate.calls)

	failing := &counting{fail: true}
	a = New(failing, headers, time.Minute)
	for i := 0; i < 2; i++ {
		_, ok, err := a.AuthenticateRequest(request(alice, nil))
		assert.False(t, ok)
		assert.Error(t, err)
	}
	assert.Equal(t, 2, failing.calls, "failures are not remembered")

	// The client CA is not loaded yet: the delegate falls back to anonymous. The next
	// request must be judged afresh.
	loading := &counting{anonymous: true}
	a = New(loading, headers, time.Minute)
	resp, ok, err := a.AuthenticateRequest(request(alice, nil))
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, user.Anonymous, resp.User.GetName())
	loading.anonymous = false
	resp, _, _ = a.AuthenticateRequest(request(alice, nil))
	assert.Equal(t, "alice", resp.User.GetName(), "anonymous is never remembered")
}

func TestEntryOutlivesNeitherTTLNorCertificate(t *testing.T) {
	delegate := &counting{}
	a := New(delegate, headers, 50*time.Millisecond)
	alice := cert("alice", time.Now().Add(time.Hour))
	a.AuthenticateRequest(request(alice, nil))
	time.Sleep(100 * time.Millisecond)
	a.AuthenticateRequest(request(alice, nil))
	assert.Equal(t, 2, delegate.calls, "verified again after the TTL")

	a = New(delegate, headers, time.Hour)
	soon := cert("soon", time.Now().Add(100*time.Millisecond))
	a.AuthenticateRequest(request(soon, nil))
	a.AuthenticateRequest(request(soon, nil))
	assert.Equal(t, 3, delegate.calls)
	time.Sleep(150 * time.Millisecond)
	a.AuthenticateRequest(request(soon, nil))
	assert.Equal(t, 4, delegate.calls, "the entry ends with the certificate")
}
