package secureserving

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/klog/v2"
)

// ServingInfo is the secure port, ready to serve.
type ServingInfo struct {
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
func (s *ServingOptions) applyTo(publicAddress string, alternateDNS []string, alternateIPs []net.IP) (*ServingInfo, error) {
	c := &ServingInfo{DisableHTTP2: s.DisableHTTP2, HTTP2MaxStreamsPerConnection: s.HTTP2MaxStreamsPerConnection}
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
func (c *ServingInfo) addClientCA(ca dynamiccertificates.CAContentProvider) {
	if c.ClientCA == nil {
		c.ClientCA = ca
	} else {
		c.ClientCA = dynamiccertificates.NewUnionCAContentProvider(c.ClientCA, ca)
	}
}
