package clusterconn

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	"kubesphere.io/multicluster/internal/faultnet"
)

const kubeconfigWith = `apiVersion: v1
kind: Config
clusters: [{name: m, cluster: {server: "https://127.0.0.1:6443"%s}}]
users: [{name: u, user: %s}]
contexts: [{name: c, context: {cluster: m, user: u}}]
current-context: c
`

func backendsWith(t *testing.T, secrets ...*corev1.Secret) (*Backends, cache.Indexer) {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, s := range secrets {
		require.NoError(t, idx.Add(s))
	}
	return NewBackends(corelisters.NewSecretLister(idx), "kubesphere-system", nil), idx
}

func secret(name, rv string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "kubesphere-system", Name: name, ResourceVersion: rv}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func directCluster(secretNS, secretName string) *v1alpha1.Cluster {
	return &v1alpha1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: "member1", UID: "u1", Generation: 1},
		Spec: v1alpha1.ClusterSpec{Connection: v1alpha1.Connection{
			Type: v1alpha1.ConnectionDirect, KubernetesAPIEndpoint: "https://127.0.0.1:6443",
			CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: secretNS, Name: secretName},
		}},
	}
}

func TestBackendReusedUntilClusterOrSecretChanges(t *testing.T) {
	b, idx := backendsWith(t, secret("creds", "1", map[string]string{"token": "t1"}))
	c := directCluster("kubesphere-system", "creds")
	first, err := b.Get(c)
	require.NoError(t, err)
	assert.Equal(t, "t1", first.Bearer)
	again, err := b.Get(c)
	require.NoError(t, err)
	assert.Same(t, first, again, "one transport per cluster, kept while nothing changes")

	require.NoError(t, idx.Update(secret("creds", "2", map[string]string{"token": "t2"})))
	rotated, err := b.Get(c)
	require.NoError(t, err)
	assert.NotSame(t, first, rotated)
	assert.Equal(t, "t2", rotated.Bearer, "a rotated credential is used at once")

	c.Generation = 2
	respec, err := b.Get(c)
	require.NoError(t, err)
	assert.NotSame(t, rotated, respec, "a spec change rebuilds")

	b.Forget("member1")
	fresh, err := b.Get(c)
	require.NoError(t, err)
	assert.NotSame(t, respec, fresh)
}

func TestBackendRefusesUnusableCredentials(t *testing.T) {
	for name, tc := range map[string]struct {
		cluster *v1alpha1.Cluster
		secret  *corev1.Secret
		want    string
	}{
		"other namespace": {directCluster("default", "creds"), secret("creds", "1", map[string]string{"token": "t"}),
			`credentials Secret default/creds must be in namespace "kubesphere-system"`},
		"missing": {directCluster("kubesphere-system", "nope"), secret("creds", "1", nil),
			"credentials Secret kubesphere-system/nope not found"},
		"no known key": {directCluster("kubesphere-system", "creds"), secret("creds", "1", map[string]string{"password": "x"}),
			"holds none of the keys kubeconfig, token, or tls.crt and tls.key"},
		"garbage kubeconfig": {directCluster("kubesphere-system", "creds"), secret("creds", "1", map[string]string{"kubeconfig": "not yaml: ["}),
			"the kubeconfig does not parse"},
		"exec plugin": {directCluster("kubesphere-system", "creds"),
			secret("creds", "1", map[string]string{"kubeconfig": fmt.Sprintf(kubeconfigWith, "", `{exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/steal}}`)}),
			"exec or auth-provider plugin"},
		"a CA file on this component's disk": {directCluster("kubesphere-system", "creds"),
			secret("creds", "1", map[string]string{"kubeconfig": fmt.Sprintf(kubeconfigWith, ", certificate-authority: /etc/kubernetes/pki/ca.crt", `{token: t}`)}),
			"the kubeconfig names a file (certificate-authority)"},
		"a client key file on this component's disk": {directCluster("kubesphere-system", "creds"),
			secret("creds", "1", map[string]string{"kubeconfig": fmt.Sprintf(kubeconfigWith, "", `{client-certificate: /var/run/serving.crt, client-key: /var/run/serving.key}`)}),
			"the kubeconfig names files"},
		"TLS verification off": {directCluster("kubesphere-system", "creds"),
			secret("creds", "1", map[string]string{"kubeconfig": fmt.Sprintf(kubeconfigWith, ", insecure-skip-tls-verify: true", `{token: t}`)}),
			"TLS verification must not be disabled"},
	} {
		t.Run(name, func(t *testing.T) {
			b, _ := backendsWith(t, tc.secret)
			_, err := b.Get(tc.cluster)
			require.Error(t, err)
			assert.Contains(t, err.Error(), `cluster "member1"`)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	agent := directCluster("kubesphere-system", "creds")
	agent.Spec.Connection.Type = v1alpha1.ConnectionAgent
	b, _ := backendsWith(t)
	_, err := b.Get(agent)
	assert.ErrorContains(t, err, "has an Agent connection, and this component has no --tower-proxy-servers")
}

// fakeDialer stands for the tower proxies: it records the cluster each stream is for.
type fakeDialer struct{ dialed []string }

func (f *fakeDialer) DialCluster(_ context.Context, cluster string) (net.Conn, error) {
	f.dialed = append(f.dialed, cluster)
	return nil, errors.New("no tunnel in a unit test")
}

func TestAgentClusterGoesThroughTheTunnelWithoutCredentials(t *testing.T) {
	dialer := &fakeDialer{}
	b := NewBackends(corelisters.NewSecretLister(cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})), "kubesphere-system", dialer)
	agent := &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "member2", UID: "u1", Generation: 1},
		Spec: v1alpha1.ClusterSpec{Connection: v1alpha1.Connection{Type: v1alpha1.ConnectionAgent}}}
	be, err := b.Get(agent)
	require.NoError(t, err)
	assert.Empty(t, be.Bearer, "the host holds no credential for an Agent cluster")
	assert.Equal(t, "http", be.Endpoint.Scheme, "TLS is the tunnel's; the agent adds the credential")
	_, err = be.Transport.DialContext(context.Background(), "tcp", "anything:80")
	require.Error(t, err)
	assert.Equal(t, []string{"member2"}, dialer.dialed, "streams are opened for the cluster, whatever address the request names")
	again, err := b.Get(agent)
	require.NoError(t, err)
	assert.Same(t, be, again, "the backend is cached while the Cluster is unchanged")
}

func TestSilentMemberFailsPooledRequestsInsteadOfHanging(t *testing.T) {
	defer func(after, timeout time.Duration) { http2PingAfter, http2PingTimeout = after, timeout }(http2PingAfter, http2PingTimeout)
	http2PingAfter, http2PingTimeout = 200*time.Millisecond, 200*time.Millisecond

	member := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == identityPath {
			_, _ = io.WriteString(w, `{"kind":"Namespace","metadata":{"name":"kube-system","uid":"uid-1"}}`)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	member.EnableHTTP2 = true
	member.StartTLS()
	defer member.Close()
	relay, err := faultnet.NewRelay(member.Listener.Addr().String())
	require.NoError(t, err)
	defer relay.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: member.Certificate().Raw})
	b, _ := backendsWith(t, secret("creds", "1", map[string]string{"token": "t", "ca.crt": string(ca)}))
	c := directCluster("kubesphere-system", "creds")
	c.Spec.Connection.KubernetesAPIEndpoint = "https://" + relay.Addr()
	c.Status.UID = "uid-1"
	be, err := b.Connect(context.Background(), c)
	require.NoError(t, err)

	get := func() (*http.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cancel)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, be.Endpoint.String()+"/version", nil)
		require.NoError(t, err)
		return be.Transport.RoundTrip(req)
	}
	resp, err := get()
	require.NoError(t, err)
	require.Equal(t, 2, resp.ProtoMajor, "members that offer HTTP/2 are spoken to over it")
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()

	relay.Freeze()
	start := time.Now()
	_, err = get()
	took := time.Since(start)
	require.Error(t, err, "a request on a connection that went silent must fail")
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "it fails by the connection's health check, not by the caller giving up")
	assert.Less(t, took, 3*time.Second, "ping after 200ms, answer due within 200ms more")
}
