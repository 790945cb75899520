package clusterconn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	"kubesphere.io/multicluster/internal/faultnet"
)

// tunnelDialer stands for the tower proxies: each stream is a connection to member, on the
// tunnel named by tunnel.
type tunnelDialer struct {
	member string
	tunnel func() string
}

type namedConn struct {
	net.Conn
	id string
}

func (c namedConn) TunnelID() string { return c.id }

func (d tunnelDialer) DialCluster(ctx context.Context, _ string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", d.member)
	if err != nil {
		return nil, err
	}
	return namedConn{conn, d.tunnel()}, nil
}

// Each new tunnel of an Agent cluster is verified on its first stream, before that stream
// carries a request; a tunnel to another cluster is refused with an *IdentityError.
func TestAgentTunnelsAreVerified(t *testing.T) {
	var mu sync.Mutex
	uid, checks, requests := "uid-2", 0, 0
	member := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == identityPath {
			checks++
			_, _ = fmt.Fprintf(w, `{"kind":"Namespace","metadata":{"name":"kube-system","uid":%q}}`, uid)
			return
		}
		requests++
		_, _ = io.WriteString(w, "ok")
	}))
	defer member.Close()
	tunnel := "t1"
	b := NewBackends(corelisters.NewSecretLister(cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})), "kubesphere-system",
		tunnelDialer{member: member.Listener.Addr().String(), tunnel: func() string { mu.Lock(); defer mu.Unlock(); return tunnel }})
	agent := &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "member2", UID: "u1", Generation: 1},
		Spec:   v1alpha1.ClusterSpec{Connection: v1alpha1.Connection{Type: v1alpha1.ConnectionAgent}},
		Status: v1alpha1.ClusterStatus{UID: "uid-2"}}
	get := func() error {
		be, err := b.Connect(context.Background(), agent)
		require.NoError(t, err)
		// A fresh connection each time: every stream is dialed.
		be.Transport.CloseIdleConnections()
		req, _ := http.NewRequest(http.MethodGet, be.Endpoint.String()+"/api/v1/pods", nil)
		resp, err := be.Transport.RoundTrip(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	count := func() (int, int) { mu.Lock(); defer mu.Unlock(); return checks, requests }

	require.NoError(t, get())
	require.NoError(t, get())
	c, r := count()
	assert.Equal(t, 1, c, "one check per tunnel, on its first stream")
	assert.Equal(t, 2, r)

	// The agent reconnects, and its new tunnel leads to another cluster.
	mu.Lock()
	tunnel, uid = "t2", "uid-1"
	mu.Unlock()
	err := get()
	var mismatch *IdentityError
	require.ErrorAs(t, err, &mismatch)
	assert.Equal(t, IdentityError{Cluster: "member2", Expected: "uid-2", Found: "uid-1"}, *mismatch)
	assert.Equal(t, int32(http.StatusBadGateway), mismatch.Status().Code)
	c, r = count()
	assert.Equal(t, 2, c)
	assert.Equal(t, 2, r, "nothing went over the tunnel to the other cluster")
	require.ErrorAs(t, get(), &mismatch, "and it stays refused")

	// A tower proxy that names no tunnel: every stream is checked.
	mu.Lock()
	tunnel, uid = "", "uid-2"
	mu.Unlock()
	require.NoError(t, get())
	require.NoError(t, get())
	c, _ = count()
	assert.Equal(t, 4, c, "t1 once, t2 once (its refusal is remembered), then both unnamed streams")
}

// A Direct backend reads the member's identity once, and again only when rebuilt.
func TestDirectIdentityIsVerifiedOncePerBackend(t *testing.T) {
	var checks int
	var mu sync.Mutex
	member := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == identityPath {
			mu.Lock()
			checks++
			mu.Unlock()
			_, _ = io.WriteString(w, `{"kind":"Namespace","metadata":{"name":"kube-system","uid":"uid-1"}}`)
			return
		}
		http.Error(w, `{"kind":"Status","code":403,"reason":"Forbidden","message":"no"}`, http.StatusForbidden)
	}))
	defer member.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: member.Certificate().Raw})
	b, secrets := backendsWith(t, secret("creds", "1", map[string]string{"token": "t", "ca.crt": string(ca)}))
	c := directCluster("kubesphere-system", "creds")
	c.Spec.Connection.KubernetesAPIEndpoint = member.URL
	c.Status.UID = "uid-1"
	for range 3 {
		_, err := b.Connect(context.Background(), c)
		require.NoError(t, err)
	}
	assert.Equal(t, 1, checks)
	c.Status.UID = "uid-0"
	_, err := b.Connect(context.Background(), c)
	var mismatch *IdentityError
	require.ErrorAs(t, err, &mismatch)
	assert.Contains(t, err.Error(), `cluster "member1" answered with identity uid-1 (its kube-system namespace UID), but the Cluster is pinned to uid-0`)

	assert.Equal(t, 2, checks, "a new pin, a new backend, a new check")

	require.NoError(t, secrets.Update(secret("creds", "2", map[string]string{"token": "t2", "ca.crt": string(ca)})))
	c.Status.UID = "uid-1"
	_, err = b.Connect(context.Background(), c)
	require.NoError(t, err)
	assert.Equal(t, 3, checks, "new credentials, a new check")
}

// An endpoint whose name starts to lead to another API server (DNS, a load balancer) is
// not trusted on its certificate alone: a connection to another serving key is refused,
// the member is verified again, and the other cluster gets nothing but the check.
func TestDirectConnectionsToAnotherServerAreRefused(t *testing.T) {
	var mu sync.Mutex
	served := map[string][]string{}
	member := func(uid string) *httptest.Server {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == identityPath {
				_, _ = fmt.Fprintf(w, `{"kind":"Namespace","metadata":{"name":"kube-system","uid":%q}}`, uid)
				return
			}
			mu.Lock()
			served[uid] = append(served[uid], r.URL.Path)
			mu.Unlock()
		}))
		// A key of its own (httptest's certificate is the same for every server).
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
		srv.StartTLS()
		return srv
	}
	a, other := member("uid-a"), member("uid-b")
	defer a.Close()
	defer other.Close()
	relay, err := faultnet.NewRelay(a.Listener.Addr().String())
	require.NoError(t, err)
	defer relay.Close()
	bundle := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Certificate().Raw})) +
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Certificate().Raw}))
	b, _ := backendsWith(t, secret("creds", "1", map[string]string{"token": "t", "ca.crt": bundle}))
	c := directCluster("kubesphere-system", "creds")
	c.Spec.Connection.KubernetesAPIEndpoint = "https://" + relay.Addr()
	c.Status.UID = "uid-a"
	get := func() error {
		be, err := b.Connect(context.Background(), c)
		if err != nil {
			return err
		}
		req, _ := http.NewRequest(http.MethodGet, be.Endpoint.String()+"/api/v1/pods", nil)
		resp, err := be.Transport.RoundTrip(req)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}
	require.NoError(t, get())

	relay.Redirect(other.Listener.Addr().String())
	err = get()
	require.ErrorIs(t, err, ErrUnverified, "a connection to another key carries nothing")
	var mismatch *IdentityError
	require.ErrorAs(t, get(), &mismatch, "verified again: another cluster")
	assert.Equal(t, "uid-b", mismatch.Found)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, map[string][]string{"uid-a": {"/api/v1/pods"}}, served)
}

// selfSigned is a certificate for 127.0.0.1 with a fresh key.
func selfSigned(t *testing.T) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "member"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
