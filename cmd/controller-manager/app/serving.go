package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/klog/v2"
)

// The secure port is built here from the small pieces of k8s.io/apiserver (dynamic
// certificates, the request authenticators, the authorizer interfaces), not from its
// pkg/server and pkg/server/options: those link the whole generic API server (etcd client,
// gRPC, OpenTelemetry exporters, CEL) and doubled the binary and its resident memory. Flags,
// defaults and behaviour are those of SecureServingOptions and SecureServingInfo.Serve.

// SecureServingOptions are the flags of the secure port, as k8s.io/apiserver's.
type SecureServingOptions struct {
	BindAddress net.IP
	// BindPort 0 serves nothing.
	BindPort int
	// Listener, when set, is used instead of listening on BindAddress:BindPort (tests).
	Listener net.Listener

	// CertFile and KeyFile are the serving certificate; when both are empty one is made,
	// and written to CertDirectory when that is set (reused from there when present).
	CertFile, KeyFile string
	CertDirectory     string
	PairName          string
	// GeneratedCert is the certificate made in memory by Config, if one was.
	GeneratedCert dynamiccertificates.CertKeyContentProvider

	SNICertKeys      []cliflag.NamedCertKey
	CipherSuites     []string
	CurvePreferences []int32
	MinTLSVersion    string

	DisableHTTP2                 bool
	HTTP2MaxStreamsPerConnection int
	PermitPortSharing            bool
	PermitAddressSharing         bool
}

// AddFlags adds the flags, with k8s.io/apiserver's names and help.
func (s *SecureServingOptions) AddFlags(fs *pflag.FlagSet) {
	fs.IPVar(&s.BindAddress, "bind-address", s.BindAddress, ""+
		"The IP address on which to listen for the --secure-port port. The "+
		"associated interface(s) must be reachable by the rest of the cluster, and by CLI/web "+
		"clients. If blank or an unspecified address (0.0.0.0 or ::), all interfaces and IP address families will be used.")
	fs.IntVar(&s.BindPort, "secure-port", s.BindPort,
		"The port of /metrics (authenticated and authorized by the host), /healthz, /livez and /readyz (open to anyone), over HTTPS. 0 serves none of them.")
	fs.BoolVar(&s.DisableHTTP2, "disable-http2-serving", s.DisableHTTP2,
		"If true, HTTP2 serving will be disabled [default=false]")
	fs.StringVar(&s.CertDirectory, "cert-dir", s.CertDirectory,
		"Directory the self-signed serving certificate is written to when --tls-cert-file and --tls-private-key-file are not given. Empty: the certificate is made in memory at every start.")
	fs.StringVar(&s.CertFile, "tls-cert-file", s.CertFile, ""+
		"File containing the default x509 Certificate for HTTPS. (CA cert, if any, concatenated "+
		"after server cert). If HTTPS serving is enabled, and --tls-cert-file and "+
		"--tls-private-key-file are not provided, a self-signed certificate and key "+
		"are generated for the public address and saved to the directory specified by --cert-dir.")
	fs.StringVar(&s.KeyFile, "tls-private-key-file", s.KeyFile,
		"File containing the default x509 private key matching --tls-cert-file.")
	fs.StringSliceVar(&s.CipherSuites, "tls-cipher-suites", s.CipherSuites,
		"Comma-separated list of cipher suites for the server. "+
			"If omitted, the default Go cipher suites will be used. \n"+
			"Preferred values: "+strings.Join(cliflag.PreferredTLSCipherNames(), ", ")+". \n"+
			"Insecure values: "+strings.Join(cliflag.InsecureTLSCipherNames(), ", ")+".")
	fs.Int32SliceVar(&s.CurvePreferences, "tls-curve-preferences", s.CurvePreferences,
		"Comma-separated list of numeric Go crypto/tls CurveID values, "+
			"as the allowed key exchange mechanisms for the server. "+
			"The supported values depend on the Go version used. "+
			"See https://pkg.go.dev/crypto/tls#CurveID for values supported for each Go version. "+
			"The order of the list is ignored, and key exchange mechanisms are chosen "+
			"by Go from this list using an internal preference order. "+
			"If omitted, the default Go curves will be used.")
	fs.StringVar(&s.MinTLSVersion, "tls-min-version", s.MinTLSVersion,
		"Minimum TLS version supported. "+
			"Possible values: "+strings.Join(cliflag.TLSPossibleVersions(), ", "))
	fs.Var(cliflag.NewNamedCertKeyArray(&s.SNICertKeys), "tls-sni-cert-key", ""+
		"A pair of x509 certificate and private key file paths, optionally suffixed with a list of "+
		"domain patterns which are fully qualified domain names, possibly with prefixed wildcard "+
		"segments. The domain patterns also allow IP addresses, but IPs should only be used if "+
		"the apiserver has visibility to the IP address requested by a client. "+
		"If no domain patterns are provided, the names of the certificate are "+
		"extracted. Non-wildcard matches trump over wildcard matches, explicit domain patterns "+
		"trump over extracted names. For multiple key/certificate pairs, use the "+
		"--tls-sni-cert-key multiple times. "+
		"Examples: \"example.crt,example.key\" or \"foo.crt,foo.key:*.foo.com,foo.com\".")
	fs.IntVar(&s.HTTP2MaxStreamsPerConnection, "http2-max-streams-per-connection", s.HTTP2MaxStreamsPerConnection, ""+
		"The limit that the server gives to clients for "+
		"the maximum number of streams in an HTTP/2 connection. "+
		"Zero means to use golang's default.")
	fs.BoolVar(&s.PermitPortSharing, "permit-port-sharing", s.PermitPortSharing,
		"If true, SO_REUSEPORT will be used when binding the port, which allows "+
			"more than one instance to bind on the same address and port. [default=false]")
	fs.BoolVar(&s.PermitAddressSharing, "permit-address-sharing", s.PermitAddressSharing,
		"If true, SO_REUSEADDR will be used when binding the port. This allows binding "+
			"to wildcard IPs like 0.0.0.0 and specific IPs in parallel, and it avoids waiting "+
			"for the kernel to release sockets in TIME_WAIT state. [default=false]")
}

// Validate checks the flags without touching files or the network.
func (s *SecureServingOptions) Validate() []error {
	var errs []error
	// Upstream's message for a port above 65535 says 0 is not allowed, which it is here.
	if s.BindPort < 0 || s.BindPort > 65535 {
		errs = append(errs, fmt.Errorf("--secure-port %d is not a port: 1 to 65535, or 0 to serve nothing", s.BindPort))
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		errs = append(errs, fmt.Errorf("--tls-cert-file and --tls-private-key-file go together"))
	}
	if _, err := cliflag.TLSCipherSuites(s.CipherSuites); err != nil {
		errs = append(errs, fmt.Errorf("--tls-cipher-suites: %w", err))
	}
	if _, err := cliflag.TLSCurvePreferences(s.CurvePreferences); err != nil {
		errs = append(errs, fmt.Errorf("--tls-curve-preferences: %w", err))
	}
	if _, err := cliflag.TLSVersion(s.MinTLSVersion); err != nil {
		errs = append(errs, fmt.Errorf("--tls-min-version: %w", err))
	}
	if s.HTTP2MaxStreamsPerConnection < 0 {
		errs = append(errs, fmt.Errorf("--http2-max-streams-per-connection must not be negative"))
	}
	return errs
}

// enabled is false when nothing is to be served.
func (s *SecureServingOptions) enabled() bool { return s.BindPort != 0 || s.Listener != nil }

// SecureServingInfo is the secure port, ready to serve.
type SecureServingInfo struct {
	Listener net.Listener
	// Cert and SNICerts are the serving certificates; ClientCA, when set, the CAs whose
	// client certificates are asked for (the authenticators verify them).
	Cert     dynamiccertificates.CertKeyContentProvider
	SNICerts []dynamiccertificates.SNICertKeyContentProvider
	ClientCA dynamiccertificates.CAContentProvider

	MinTLSVersion    uint16
	CipherSuites     []uint16
	CurvePreferences []tls.CurveID

	DisableHTTP2                 bool
	HTTP2MaxStreamsPerConnection int
}

// applyTo listens and loads (or makes) the serving certificates, as upstream's
// MaybeDefaultWithSelfSignedCerts and ApplyTo do; publicAddress, alternateDNS and
// alternateIPs name a self-signed certificate.
func (s *SecureServingOptions) applyTo(publicAddress string, alternateDNS []string, alternateIPs []net.IP) (*SecureServingInfo, error) {
	c := &SecureServingInfo{DisableHTTP2: s.DisableHTTP2, HTTP2MaxStreamsPerConnection: s.HTTP2MaxStreamsPerConnection}
	var err error
	if c.CipherSuites, err = cliflag.TLSCipherSuites(s.CipherSuites); err != nil {
		return nil, err
	}
	if c.CurvePreferences, err = cliflag.TLSCurvePreferences(s.CurvePreferences); err != nil {
		return nil, err
	}
	if c.MinTLSVersion, err = cliflag.TLSVersion(s.MinTLSVersion); err != nil {
		return nil, err
	}
	if s.Listener != nil {
		addr, ok := s.Listener.Addr().(*net.TCPAddr)
		if !ok {
			return nil, fmt.Errorf("the listener is not TCP: %s", s.Listener.Addr())
		}
		s.BindAddress, s.BindPort = addr.IP, addr.Port
	}

	certFile, keyFile := s.CertFile, s.KeyFile
	if certFile == "" && keyFile == "" {
		// A self-signed certificate: from --cert-dir when it holds one, else made now.
		readable := false
		if s.CertDirectory != "" {
			certFile = filepath.Join(s.CertDirectory, s.PairName+".crt")
			keyFile = filepath.Join(s.CertDirectory, s.PairName+".key")
			if readable, err = certutil.CanReadCertAndKey(certFile, keyFile); err != nil {
				return nil, err
			}
		}
		if !readable {
			if s.BindAddress.IsUnspecified() {
				alternateDNS = append(alternateDNS, "localhost")
			} else {
				alternateIPs = append(alternateIPs, s.BindAddress)
			}
			cert, key, err := certutil.GenerateSelfSignedCertKey(publicAddress, alternateIPs, alternateDNS)
			if err != nil {
				return nil, fmt.Errorf("creating the self-signed serving certificate: %w", err)
			}
			if s.CertDirectory != "" {
				if err := certutil.WriteCert(certFile, cert); err != nil {
					return nil, err
				}
				if err := keyutil.WriteKey(keyFile, key); err != nil {
					return nil, err
				}
				klog.InfoS("Generated self-signed cert", "cert", certFile, "key", keyFile)
			} else {
				if s.GeneratedCert, err = dynamiccertificates.NewStaticCertKeyContent("Generated self signed cert", cert, key); err != nil {
					return nil, err
				}
				klog.InfoS("Generated self-signed cert in-memory")
				certFile, keyFile = "", ""
			}
		}
	}
	if certFile != "" {
		// Reloaded when the files change, as kube components do.
		if c.Cert, err = dynamiccertificates.NewDynamicServingContentFromFiles("serving-cert", certFile, keyFile); err != nil {
			return nil, err
		}
	} else {
		c.Cert = s.GeneratedCert
	}
	for _, nck := range s.SNICertKeys {
		sni, err := dynamiccertificates.NewDynamicSNIContentFromFiles("sni-serving-cert", nck.CertFile, nck.KeyFile, nck.Names...)
		if err != nil {
			return nil, fmt.Errorf("failed to load SNI cert and key: %w", err)
		}
		c.SNICerts = append(c.SNICerts, sni)
	}

	// Listen last: a port in use fails the start, and nothing above leaves it open.
	c.Listener = s.Listener
	if c.Listener == nil {
		lc := net.ListenConfig{}
		if s.PermitPortSharing || s.PermitAddressSharing {
			lc.Control = socketSharing(s.PermitPortSharing, s.PermitAddressSharing)
		}
		addr := net.JoinHostPort(s.BindAddress.String(), strconv.Itoa(s.BindPort))
		if c.Listener, err = lc.Listen(context.Background(), "tcp", addr); err != nil {
			return nil, fmt.Errorf("--bind-address, --secure-port: failed to listen on %v: %w", addr, err)
		}
	}
	return c, nil
}

// addClientCA asks for client certificates of ca too.
func (c *SecureServingInfo) addClientCA(ca dynamiccertificates.CAContentProvider) {
	if c.ClientCA == nil {
		c.ClientCA = ca
	} else {
		c.ClientCA = dynamiccertificates.NewUnionCAContentProvider(c.ClientCA, ca)
	}
}

// Serve serves handler over TLS until stopCh closes, as SecureServingInfo.Serve of
// k8s.io/apiserver does: certificates and client CAs reloaded when they change, HTTP/2
// with its limits, TCP keep-alive, TLS handshake errors logged at -v=5 only.
func (c *SecureServingInfo) Serve(handler http.Handler, stopCh <-chan struct{}) error {
	tlsConfig := &tls.Config{
		MinVersion:       tls.VersionTLS12,
		NextProtos:       []string{"h2", "http/1.1"},
		CipherSuites:     c.CipherSuites,
		CurvePreferences: c.CurvePreferences,
	}
	if c.DisableHTTP2 {
		tlsConfig.NextProtos = []string{"http/1.1"}
	}
	if c.MinTLSVersion > 0 {
		tlsConfig.MinVersion = c.MinTLSVersion
	}
	if c.ClientCA != nil {
		// Asked for, verified by the authenticators: a caller without one is anonymous.
		tlsConfig.ClientAuth = tls.RequestClientCert
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-stopCh
		cancel()
	}()
	dynamic := dynamiccertificates.NewDynamicServingCertificateController(tlsConfig, c.ClientCA, c.Cert, c.SNICerts, nil)
	run := func(what string, p any) {
		if controller, ok := p.(dynamiccertificates.ControllerRunner); ok {
			if err := controller.RunOnce(ctx); err != nil {
				klog.ErrorS(err, "Initial population failed", "what", what)
			}
			go controller.Run(ctx, 1)
		}
	}
	if c.ClientCA != nil {
		c.ClientCA.AddListener(dynamic)
		run("client CA", c.ClientCA)
	}
	if c.Cert != nil {
		c.Cert.AddListener(dynamic)
		run("serving certificate", c.Cert)
	}
	for _, sni := range c.SNICerts {
		sni.AddListener(dynamic)
		run("SNI serving certificate", sni)
	}
	if err := dynamic.RunOnce(); err != nil {
		klog.ErrorS(err, "Initial population of dynamic certificates failed")
	}
	go dynamic.Run(1, stopCh)
	tlsConfig.GetConfigForClient = dynamic.GetConfigForClient

	srv := &http.Server{
		Addr:              c.Listener.Addr().String(),
		Handler:           handler,
		MaxHeaderBytes:    1 << 20,
		TLSConfig:         tlsConfig,
		IdleTimeout:       90 * time.Second,
		ReadHeaderTimeout: 32 * time.Second,
		ErrorLog:          log.New(tlsHandshakeErrorWriter{os.Stderr}, "", 0),
	}
	if !c.DisableHTTP2 {
		// Upstream's HTTP/2 limits, with net/http's own HTTP/2 server (x/net/http2 is not
		// a direct dependency of this module).
		const resourceBody99Percentile = 256 * 1024
		streams := 100
		if c.HTTP2MaxStreamsPerConnection > 0 {
			streams = c.HTTP2MaxStreamsPerConnection
		}
		srv.HTTP2 = &http.HTTP2Config{
			MaxConcurrentStreams:          streams,
			MaxReadFrameSize:              resourceBody99Percentile,
			MaxReceiveBufferPerStream:     resourceBody99Percentile,
			MaxReceiveBufferPerConnection: resourceBody99Percentile * streams,
		}
	}
	go func() {
		<-stopCh
		_ = srv.Close()
	}()
	klog.InfoS("Serving securely", "address", srv.Addr)
	go func() {
		err := srv.Serve(tls.NewListener(tcpKeepAliveListener{c.Listener}, tlsConfig))
		select {
		case <-stopCh:
			klog.InfoS("Stopped listening", "address", srv.Addr)
		default:
			// The port answers the kubelet's probes: without it the pod is restarted anyway.
			klog.ErrorS(err, "Stopped listening", "address", srv.Addr)
			klog.FlushAndExit(klog.ExitFlushTimeout, 1)
		}
	}()
	return nil
}

type tcpKeepAliveListener struct{ net.Listener }

func (l tcpKeepAliveListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetKeepAlive(true)
		_ = tc.SetKeepAlivePeriod(3 * time.Minute)
	}
	return c, nil
}

// tlsHandshakeErrorWriter keeps scanners' and probes' failed handshakes out of the log.
type tlsHandshakeErrorWriter struct{ out io.Writer }

func (w tlsHandshakeErrorWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "http: TLS handshake error") {
		klog.V(5).Info(string(p))
		return len(p), nil
	}
	return w.out.Write(p)
}
