package secureserving

import (
	"fmt"
	"net"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	cliflag "k8s.io/component-base/cli/flag"
)

// ServingOptions are the flags of the secure port, as k8s.io/apiserver's SecureServingOptions.
type ServingOptions struct {
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
func (s *ServingOptions) AddFlags(fs *pflag.FlagSet) {
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
func (s *ServingOptions) Validate() []error {
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
func (s *ServingOptions) enabled() bool { return s.BindPort != 0 || s.Listener != nil }
