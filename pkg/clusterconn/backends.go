package clusterconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
)

// Timeouts that bound how long a request to a dead member waits before a 503. They do not
// limit a request once the member answered: watches, logs and exec stream for as long
// as the client wants.
const (
	dialTimeout         = 5 * time.Second
	tlsHandshakeTimeout = 5 * time.Second
)

// A pooled HTTP/2 connection to a member that stops answering (the machine gone, a NAT
// entry dropped: no reset ever arrives) is found by pings, as client-go does: after
// http2PingAfter without a frame a ping goes out, and no answer within http2PingTimeout
// closes the connection, failing its requests with a 503. Without it they would wait for
// TCP to give up, many minutes. Variables for tests.
var (
	http2PingAfter   = 30 * time.Second
	http2PingTimeout = 15 * time.Second
)

// Backend is how to reach one member: its API server's URL and a pooled transport that
// authenticates as the host's credential for it.
type Backend struct {
	Endpoint *url.URL
	// Transport is shared by every request to the member: connections are kept alive and
	// HTTP/2 is used where the member offers it.
	Transport *http.Transport
	// Bearer is set on each request (not in a wrapping RoundTripper) because upgrade
	// requests are dialed directly and would skip a wrapper.
	Bearer string
	// direct is the identity a Direct backend reaches; tunnels are those an Agent
	// backend's tunnels reach. Exactly one is set.
	direct  *directIdentity
	tunnels *tunnelIdentities
	// certExpiry is when the client certificate of the credential expires (zero when the
	// credential is not a certificate).
	certExpiry time.Time
	// from is what the backend was built from; a change rebuilds it.
	from source
}

// source identifies the inputs of a backend: the Cluster's generation moves with its
// spec, the Secret's resourceVersion with its data, and the pinned identity is what every
// connection of the backend is verified against (a new pin, a new backend: no connection
// verified under the old one is used again).
type source struct {
	clusterUID        types.UID
	clusterGeneration int64
	secretVersion     string
	pinned            string
}

// AgentDialer opens a stream to an Agent cluster's agent (pkg/tunnel's Dialer): HTTP to
// the member's API server is spoken over it, and the agent adds its own credential.
type AgentDialer interface {
	DialCluster(ctx context.Context, cluster string) (net.Conn, error)
}

// TunnelNamer is a stream that says which tunnel it runs on (pkg/tunnel's streams), so
// that a tunnel's identity is verified once, on its first stream.
type TunnelNamer interface {
	TunnelID() string
}

// Backends builds and caches a backend per cluster.
type Backends struct {
	// agents reaches Agent clusters; nil when this component has no tower proxy.
	agents  AgentDialer
	secrets corelisters.SecretLister
	// namespace is the only namespace credentials Secrets may live in: the server may
	// read Secrets there and nowhere else.
	namespace string

	mu    sync.RWMutex
	cache map[string]*Backend
}

// NewBackends returns a backend cache reading credentials Secrets from namespace and
// reaching Agent clusters through agents (which may be nil).
func NewBackends(secrets corelisters.SecretLister, namespace string, agents AgentDialer) *Backends {
	return &Backends{agents: agents, secrets: secrets, namespace: namespace, cache: map[string]*Backend{}}
}

// Get returns the cluster's backend, building it when the Cluster or its Secret changed.
func (b *Backends) Get(c *v1alpha1.Cluster) (*Backend, error) {
	var secret *corev1.Secret
	switch c.Spec.Connection.Type {
	case v1alpha1.ConnectionDirect:
		ref := c.Spec.Connection.CredentialsSecretRef
		if ref == nil {
			return nil, fmt.Errorf("cluster %q has no credentialsSecretRef", c.Name)
		}
		if ref.Namespace != b.namespace {
			return nil, fmt.Errorf("cluster %q: credentials Secret %s/%s must be in namespace %q", c.Name, ref.Namespace, ref.Name, b.namespace)
		}
		var err error
		secret, err = b.secrets.Secrets(ref.Namespace).Get(ref.Name)
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("cluster %q: credentials Secret %s/%s not found", c.Name, ref.Namespace, ref.Name)
		} else if err != nil {
			return nil, err
		}
	case v1alpha1.ConnectionAgent:
		if b.agents == nil {
			return nil, fmt.Errorf("cluster %q has an Agent connection, and this component has no --tower-proxy-servers to reach it", c.Name)
		}
	default:
		return nil, fmt.Errorf("cluster %q has connection type %q, which this server cannot reach", c.Name, c.Spec.Connection.Type)
	}
	from := source{clusterUID: c.UID, clusterGeneration: c.Generation, pinned: c.Status.UID}
	if secret != nil {
		from.secretVersion = secret.ResourceVersion
	}

	b.mu.RLock()
	cached := b.cache[c.Name]
	b.mu.RUnlock()
	if cached != nil && cached.from == from {
		return cached, nil
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if cached = b.cache[c.Name]; cached != nil && cached.from == from {
		return cached, nil
	}
	var built *Backend
	var err error
	if secret == nil {
		built = agentBackend(c.Name, c.Status.UID, b.agents)
	} else {
		built, err = build(c, secret)
	}
	if err != nil {
		return nil, err
	}
	built.from = from
	if cached != nil {
		// Requests in flight keep their connections; idle ones go now.
		cached.Transport.CloseIdleConnections()
	}
	b.cache[c.Name] = built
	return built, nil
}

// Connect returns the cluster's backend once the member behind it is verified to be the
// one the Cluster pins (status.uid): a Direct backend reads the member's identity on its
// first use (and again whenever it is rebuilt, on any change of endpoint, CA or
// credentials); an Agent backend verifies each new tunnel on its first stream. A mismatch
// is an *IdentityError and nothing is sent. An unpinned Cluster takes any identity: the
// caller decides whether to go on (the proxy does not; the probe that pins does).
func (b *Backends) Connect(ctx context.Context, c *v1alpha1.Cluster) (*Backend, error) {
	be, err := b.Get(c)
	if err != nil {
		return nil, err
	}
	if be.tunnels != nil {
		return be, nil // verified per tunnel, as streams are dialed
	}
	found, err := be.direct.get(ctx, be.Endpoint.String(), be.Bearer)
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w: %w", c.Name, ErrUnverified, err)
	}
	if err := expect(c.Name, c.Status.UID, found); err != nil {
		return nil, err
	}
	return be, nil
}

// Forget drops a deleted cluster's backend.
func (b *Backends) Forget(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cached := b.cache[name]; cached != nil {
		cached.Transport.CloseIdleConnections()
		delete(b.cache, name)
	}
}

// build makes a backend from the Cluster's endpoint and CA and the Secret's credential:
// a "kubeconfig" key, or "token", or "tls.crt" + "tls.key" (with an optional "ca.crt").
func build(c *v1alpha1.Cluster, secret *corev1.Secret) (*Backend, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("cluster %q: credentials Secret %s/%s: %s", c.Name, secret.Namespace, secret.Name, fmt.Sprintf(format, args...))
	}
	endpoint, err := url.Parse(c.Spec.Connection.KubernetesAPIEndpoint)
	if err != nil || endpoint.Scheme != "https" || endpoint.Host == "" {
		return nil, fmt.Errorf("cluster %q: kubernetesAPIEndpoint %q is not an https URL", c.Name, c.Spec.Connection.KubernetesAPIEndpoint)
	}
	cfg := &rest.Config{}
	switch {
	case len(secret.Data["kubeconfig"]) > 0:
		loaded, err := clientcmd.Load(secret.Data["kubeconfig"])
		if err != nil {
			return nil, bad("the kubeconfig does not parse: %v", err)
		}
		// Only static credentials: an exec or auth-provider plugin would run on the host, and
		// a file named in a Secret would be read from this component's own disk (checked
		// before clientcmd opens them).
		if ctx := loaded.Contexts[loaded.CurrentContext]; ctx != nil {
			if a := loaded.AuthInfos[ctx.AuthInfo]; a != nil && (a.Exec != nil || a.AuthProvider != nil) {
				return nil, bad("the kubeconfig uses an exec or auth-provider plugin; only certificates and tokens are allowed")
			}
			if a := loaded.AuthInfos[ctx.AuthInfo]; a != nil && (a.ClientCertificate != "" || a.ClientKey != "" || a.TokenFile != "") {
				return nil, bad("the kubeconfig names files (client-certificate, client-key or tokenFile); embed them as client-certificate-data, client-key-data or token instead")
			}
			if cl := loaded.Clusters[ctx.Cluster]; cl != nil && cl.CertificateAuthority != "" {
				return nil, bad("the kubeconfig names a file (certificate-authority); embed it as certificate-authority-data instead")
			}
		}
		if cfg, err = clientcmd.NewDefaultClientConfig(*loaded, &clientcmd.ConfigOverrides{}).ClientConfig(); err != nil {
			return nil, bad("the kubeconfig is not usable: %v", err)
		}
	case len(secret.Data["token"]) > 0:
		cfg.BearerToken = string(secret.Data["token"])
		cfg.CAData = secret.Data["ca.crt"]
	case len(secret.Data["tls.crt"]) > 0 && len(secret.Data["tls.key"]) > 0:
		cfg.CertData, cfg.KeyData = secret.Data["tls.crt"], secret.Data["tls.key"]
		cfg.CAData = secret.Data["ca.crt"]
	default:
		return nil, bad("it holds none of the keys kubeconfig, token, or tls.crt and tls.key")
	}
	if len(c.Spec.Connection.CABundle) > 0 {
		cfg.CAData, cfg.CAFile = c.Spec.Connection.CABundle, ""
	}
	if cfg.BearerTokenFile != "" || cfg.Username != "" {
		return nil, bad("token files and basic authentication are not supported; use a token or a client certificate")
	}
	if cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" {
		return nil, bad("the kubeconfig names files (certificate-authority, client-certificate or client-key); embed them as *-data instead")
	}
	// No impersonation from the credential itself: each request impersonates its caller.
	cfg.Impersonate = rest.ImpersonationConfig{}
	tlsConfig, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return nil, bad("%v", err)
	}
	if tlsConfig == nil {
		// No CA and no client certificate: verify against the system's roots (a member
		// with a publicly trusted certificate).
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if tlsConfig.InsecureSkipVerify {
		return nil, bad("TLS verification must not be disabled")
	}
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	// The identity check runs on connections of its own; every connection of the
	// backend's transport must then present the key the checked one did.
	ident := &directIdentity{cluster: c.Name, transport: &http.Transport{
		Proxy: nil, DialContext: dialer.DialContext, TLSClientConfig: tlsConfig.Clone(),
		TLSHandshakeTimeout: tlsHandshakeTimeout, DisableKeepAlives: true,
	}}
	tlsConfig.VerifyConnection = ident.verifyPeer
	var certExpiry time.Time
	if block, _ := pem.Decode(cfg.CertData); block != nil {
		if leaf, err := x509.ParseCertificate(block.Bytes); err == nil {
			certExpiry = leaf.NotAfter
		}
	}
	return &Backend{
		Endpoint:   endpoint,
		Bearer:     cfg.BearerToken,
		certExpiry: certExpiry,
		direct:     ident,
		Transport: &http.Transport{
			Proxy:               nil, // members are reached directly, never through an environment proxy
			DialContext:         dialer.DialContext,
			TLSClientConfig:     tlsConfig,
			TLSHandshakeTimeout: tlsHandshakeTimeout,
			ForceAttemptHTTP2:   true,
			HTTP2:               &http.HTTP2Config{SendPingTimeout: http2PingAfter, PingTimeout: http2PingTimeout},
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		},
	}, nil
}

// agentBackend speaks plain HTTP over streams of the cluster's tunnel: TLS is the
// tunnel's, and the agent adds its own credential, so the host holds none. Every stream
// of a tunnel not verified yet carries the identity check before anything else.
func agentBackend(cluster, pinned string, agents AgentDialer) *Backend {
	tunnels := &tunnelIdentities{pinned: pinned}
	return &Backend{
		// The agent sends every request to its own API server whatever the host; the
		// cluster's name here only makes logs and errors readable.
		Endpoint: &url.URL{Scheme: "http", Host: cluster},
		tunnels:  tunnels,
		Transport: &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				conn, err := agents.DialCluster(ctx, cluster)
				if err != nil {
					return nil, err
				}
				id := ""
				if n, ok := conn.(TunnelNamer); ok {
					id = n.TunnelID()
				}
				if err := tunnels.check(ctx, cluster, id, conn); err != nil {
					_ = conn.Close()
					return nil, err
				}
				return conn, nil
			},
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		},
	}
}

// RESTConfig is how the host reaches cluster c's API server, on the same pooled transport
// and credential as proxied requests, for the host's own calls (health probes), after the
// same identity check (Connect). Requests made with it act as the credential of the
// cluster's Secret (or the agent's), not as any user.
func (b *Backends) RESTConfig(ctx context.Context, c *v1alpha1.Cluster) (*rest.Config, error) {
	be, err := b.Connect(ctx, c)
	if err != nil {
		return nil, err
	}
	return &rest.Config{Host: be.Endpoint.String(), Transport: bearerTransport{be.Transport, be.Bearer}}, nil
}

// ClientCertificateExpiry is when the client certificate in cluster c's credentials
// expires; ok is false when the credential is not a certificate or cannot be used.
func (b *Backends) ClientCertificateExpiry(c *v1alpha1.Cluster) (expiry time.Time, ok bool) {
	be, err := b.Get(c)
	if err != nil || be.certExpiry.IsZero() {
		return time.Time{}, false
	}
	return be.certExpiry, true
}

// bearerTransport adds the backend's token, as Serve does on each request.
type bearerTransport struct {
	base   http.RoundTripper
	Bearer string
}

func (t bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Bearer == "" {
		return t.base.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+t.Bearer)
	return t.base.RoundTrip(req)
}
