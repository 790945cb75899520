package tunnel

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"

	"kubesphere.io/multicluster/internal/cli"
)

// DialerOptions are the flags of a host component that reaches Agent clusters
// (cluster-apiserver, controller-manager).
type DialerOptions struct {
	// Servers are the tower proxy URLs.
	Servers []string
	// CAFile verifies the tower proxies' serving certificates.
	CAFile string
}

// AddFlags adds the options' flags to fs.
func (o *DialerOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.Servers, "tower-proxy-servers", o.Servers,
		"URLs of the tower proxies (https://host:port, comma-separated) through which Agent clusters are "+
			"reached. A name with several addresses (a headless Service) stands for every replica. "+
			"Empty: Agent clusters cannot be reached.")
	fs.StringVar(&o.CAFile, "tower-proxy-ca-file", o.CAFile,
		"PEM CA bundle that signs the tower proxies' serving certificates. This component "+
			"authenticates to them with the client certificate or token of its host kubeconfig.")
}

// Validate checks the flags.
func (o *DialerOptions) Validate() error {
	for _, s := range o.Servers {
		if u, err := url.Parse(s); err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("--tower-proxy-servers: %q is not an https URL", s)
		}
	}
	if len(o.Servers) > 0 && o.CAFile == "" {
		return fmt.Errorf("--tower-proxy-ca-file is required with --tower-proxy-servers")
	}
	return nil
}

// Dialer builds the dialer, authenticating to the tower proxies as host (this component's
// host credential: its client certificate, or its token). It is nil without servers.
func (o *DialerOptions) Dialer(host *rest.Config) (*Dialer, error) {
	if len(o.Servers) == 0 {
		return nil, nil
	}
	roots, err := cli.CertPool("--tower-proxy-ca-file", o.CAFile)
	if err != nil {
		return nil, err
	}
	tlsCfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if hostTLS, err := rest.TLSConfigFor(host); err == nil && hostTLS != nil && hostTLS.GetClientCertificate != nil {
		tlsCfg.GetClientCertificate = hostTLS.GetClientCertificate
	}
	d := &Dialer{TLS: tlsCfg}
	for _, s := range o.Servers {
		u, _ := url.Parse(s)
		d.Servers = append(d.Servers, u)
	}
	// The file wins over a token read once (in-cluster configs set both), as in client-go:
	// projected service account tokens rotate, so it is read each time, and trimmed as
	// client-go trims it (a trailing newline would end the CONNECT's headers).
	switch {
	case host.BearerTokenFile != "":
		file, fallback := host.BearerTokenFile, strings.TrimSpace(host.BearerToken)
		d.Bearer = func() string {
			if b, err := os.ReadFile(file); err == nil {
				if token := strings.TrimSpace(string(b)); token != "" {
					return token
				}
			}
			return fallback
		}
	case host.BearerToken != "":
		token := strings.TrimSpace(host.BearerToken)
		d.Bearer = func() string { return token }
	}
	return d, nil
}
