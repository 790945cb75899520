package secureserving

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// TestServeClientCertificatesOfTheHost: with no CA flags the client CA and the front
// proxy's CA, allowed names and headers come from the host's configmap
// kube-system/extension-apiserver-authentication, as with k8s.io/apiserver's delegating
// options: a client certificate of the client CA is its common name, the front proxy's
// headers count only from the front proxy's certificate.
func TestServeClientCertificatesOfTheHost(t *testing.T) {
	clientCA, proxyCA := newTestCA(t, "client-ca"), newTestCA(t, "front-proxy-ca")
	host := &fakeHost{authConfig: map[string]string{
		"client-ca-file":                     clientCA.pem,
		"requestheader-client-ca-file":       proxyCA.pem,
		"requestheader-allowed-names":        `["front-proxy-client"]`,
		"requestheader-username-headers":     `["X-Remote-User"]`,
		"requestheader-group-headers":        `["X-Remote-Group"]`,
		"requestheader-extra-headers-prefix": `["X-Remote-Extra-"]`,
	}}
	base := startServing(t, host, nil)
	reader, frontProxy := clientCA.issue(t, "reader"), proxyCA.issue(t, "front-proxy-client")

	// The client CA arrives with the configmap informer, just after the start.
	require.Eventually(t, func() bool {
		code, _ := fetch(t, base+"/metrics", &reader, nil)
		return code == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond, "a client certificate of the host's client CA")
	assert.Equal(t, "reader", host.lastAccessReviewUser.Load())

	code, body := fetch(t, base+"/metrics", &frontProxy, map[string]string{"X-Remote-User": "reader"})
	assert.Equal(t, http.StatusOK, code, "the front proxy naming the reader: %s", body)

	stranger := newTestCA(t, "client-ca").issue(t, "reader")
	code, body = fetch(t, base+"/metrics", &stranger, nil)
	assert.Equal(t, http.StatusUnauthorized, code, "a certificate of a CA the host does not trust: %s", body)

	otherProxy := proxyCA.issue(t, "not-the-front-proxy")
	code, body = fetch(t, base+"/metrics", &otherProxy, map[string]string{"X-Remote-User": "reader"})
	assert.Equal(t, http.StatusUnauthorized, code, "a certificate of the front-proxy CA with a name not allowed: %s", body)

	code, body = fetch(t, base+"/metrics", nil, map[string]string{"X-Remote-User": "reader", "X-Remote-Group": "system:masters"})
	assert.Equal(t, http.StatusForbidden, code, "front-proxy headers without its certificate are anonymous")
	assert.Contains(t, body, `User \"system:anonymous\" cannot get path \"/metrics\"`)

	someone := clientCA.issue(t, "someone")
	code, _ = fetch(t, base+"/metrics", &someone, map[string]string{"X-Remote-User": "reader", "X-Remote-Group": "system:masters"})
	assert.Equal(t, http.StatusForbidden, code, "a user's certificate with front-proxy headers is the user, not the headers")
	assert.Equal(t, "someone", host.lastAccessReviewUser.Load())
}

// TestConfigFailsClosed: a host that will not show its client CAs fails the start (the
// Role extension-apiserver-authentication-reader is missing), unless tolerated.
func TestConfigFailsClosed(t *testing.T) {
	srv := httptest.NewTLSServer(&fakeHost{hideAuthConfig: true})
	defer srv.Close()
	o := newTestOptions()
	kubeconfig := hostKubeconfig(t, srv)
	o.Serving.BindPort = freeTestPort(t)
	require.NoError(t, utilerrors.NewAggregate(o.Validate()))
	_, err := o.Config(kubeconfig)
	require.ErrorContains(t, err, "extension-apiserver-authentication-reader")
	require.ErrorContains(t, err, "forbidden")
	// The port was let go.
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.Serving.BindPort)))
	require.NoError(t, err)
	require.NoError(t, l.Close())

	// The same with the front proxy's CA given by a flag: the client CA is still the host's.
	o.Authentication.RequestHeader.ClientCAFile = filepath.Join(t.TempDir(), "front-proxy-ca.crt")
	require.NoError(t, os.WriteFile(o.Authentication.RequestHeader.ClientCAFile, []byte(newTestCA(t, "front-proxy-ca").pem), 0o600))
	_, err = o.Config(kubeconfig)
	require.ErrorContains(t, err, "forbidden")

	o.Authentication.TolerateInClusterLookupFailure = true
	c, err := o.Config(kubeconfig)
	require.NoError(t, err)
	require.NoError(t, c.Serving.Listener.Close())
}

// TestServeReviewsFailClosed: when the host does not answer a SubjectAccessReview the
// request fails (500), it never passes; a token's review is kept (one review for two
// requests).
func TestServeReviewsFailClosed(t *testing.T) {
	host := &fakeHost{refuseAccessReviews: true}
	base := startServing(t, host, func(o *Options) { o.Authentication.SkipInClusterLookup = true })
	auth := map[string]string{"Authorization": "Bearer reader-token"}
	code, body := fetch(t, base+"/metrics", nil, auth)
	assert.Equal(t, http.StatusInternalServerError, code)
	assert.NotContains(t, body, "kubesphere_test_gauge")
	code, _ = fetch(t, base+"/metrics", nil, auth)
	assert.Equal(t, http.StatusInternalServerError, code)
	assert.Equal(t, int32(1), host.reviews.Load(), "the token's review is cached")
	assert.Equal(t, int32(2), host.accessReviews.Load(), "a failed access review is not cached")
	code, _ = fetch(t, base+"/healthz", nil, nil)
	assert.Equal(t, http.StatusOK, code)
}
