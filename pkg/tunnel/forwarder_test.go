package tunnel

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
)

// The member's API server sees watches over HTTP/2 (one connection for all of them) and
// every other request over HTTP/1.1 (upgrades need it), always with the agent's own
// credential in place of the caller's.
func TestForwarderSendsWatchesOverHTTP2(t *testing.T) {
	member := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Proto", r.Proto)
		w.Header().Set("X-Authorization", r.Header.Get("Authorization"))
		_, _ = io.WriteString(w, r.URL.RequestURI())
	}))
	member.EnableHTTP2 = true
	member.StartTLS()
	defer member.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: member.Certificate().Raw})

	fwd, err := NewForwarder("member", &rest.Config{Host: member.URL, BearerToken: "agent-token", TLSClientConfig: rest.TLSClientConfig{CAData: ca}})
	require.NoError(t, err)

	for _, tc := range []struct {
		uri     string
		upgrade string
		proto   string
	}{
		{"/api/v1/pods?watch=true&resourceVersion=1", "", "HTTP/2.0"},
		{"/api/v1/pods?watch=1", "", "HTTP/2.0"},
		{"/api/v1/pods?watch", "", "HTTP/2.0"},
		{"/api/v1/pods?watch=false", "", "HTTP/1.1"},
		{"/api/v1/pods?watch=0", "", "HTTP/1.1"},
		{"/api/v1/pods", "", "HTTP/1.1"},
		{"/api/v1/namespaces/default/pods/p?allowWatchBookmarks=true", "", "HTTP/1.1"},
		// A watch over a WebSocket is an upgrade: HTTP/1.1 only.
		{"/api/v1/pods?watch=true", "websocket", "HTTP/1.1"},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, tc.uri, nil)
		req.Header.Set("Authorization", "Bearer caller")
		if tc.upgrade != "" {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", tc.upgrade)
		}
		fwd.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusOK, rec.Code, tc.uri)
		assert.Equal(t, tc.proto, rec.Header().Get("X-Proto"), tc.uri)
		assert.Equal(t, "Bearer agent-token", rec.Header().Get("X-Authorization"), tc.uri)
		assert.Equal(t, tc.uri, rec.Body.String(), "the path and query reach the member unchanged")
	}
}
