// Package embeddedetcd runs a single-member etcd inside the cluster-apiserver process, so
// that one process is a working install. HA installs point --etcd-servers at a real etcd.
package embeddedetcd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// tlsDirName is the directory, inside the data directory, that holds the certificates made
// at each start.
const tlsDirName = "tls"

// Server is a running embedded etcd. It accepts only clients that present the client
// certificate made for this run (CertFile, KeyFile): the storage layer is the only way to
// the data, so admission and authorization cannot be bypassed by another local process.
type Server struct {
	etcd *embed.Etcd
	// ClientURL is where the apiserver's storage client reaches it (https).
	ClientURL string
	// CertFile and KeyFile are the client certificate and key the storage client must
	// present; CAFile is the CA that signed etcd's serving certificate.
	CertFile, KeyFile, CAFile string
	tlsDir                    string
}

// Start starts an etcd member that keeps its data in dataDir and serves clients on an
// ephemeral 127.0.0.1 port only, with mutual TLS: nothing outside this machine (or pod)
// can reach it, two servers on one machine never collide, and a local process without
// this run's client certificate is refused. It has no peer listener at all.
func Start(ctx context.Context, dataDir string) (*Server, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded etcd: data directory: %w", err)
	}
	// etcd's embed and the apiserver's storage client both take certificates as file paths
	// (and reread them at each TLS handshake), so they live in files for the process'
	// lifetime. They go inside the data directory rather than a temp directory: it is
	// always writable (artifacts/ runs the server with a read-only root file system and
	// no /tmp volume), private to the server, and not swept by /tmp cleaners while the
	// server runs for weeks; whoever can read it can read the data itself anyway. A fresh
	// CA is made at every start and its key never written, so a crash's leftovers are
	// useless to anyone.
	tlsDir, err := filepath.Abs(filepath.Join(dataDir, tlsDirName))
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: data directory: %w", err)
	}
	files, err := writeCertificates(tlsDir)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: making its certificates in %s (the data directory must be writable by this user): %w", tlsDir, err)
	}
	s := &Server{CertFile: files.clientCert, KeyFile: files.clientKey, CAFile: files.ca, tlsDir: tlsDir}

	cfg := embed.NewConfig()
	cfg.Name = "cluster-apiserver"
	cfg.Dir = dataDir
	client := url.URL{Scheme: "https", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ClientTLSInfo.CertFile = files.serverCert
	cfg.ClientTLSInfo.KeyFile = files.serverKey
	cfg.ClientTLSInfo.TrustedCAFile = files.ca
	cfg.ClientTLSInfo.ClientCertAuth = true
	// Both ends are this binary's Go TLS stack.
	cfg.TlsMinVersion = "TLS1.3"
	// A single member never talks to peers, so it listens for none: nothing to attack.
	// The membership still records a peer URL; port 0 cannot be dialled.
	cfg.ListenPeerUrls = nil
	cfg.AdvertisePeerUrls = []url.URL{{Scheme: "https", Host: "127.0.0.1:0"}}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// No separate metrics port, and no HTTP/JSON gateway: the apiserver speaks gRPC only.
	cfg.ListenMetricsUrls = nil
	cfg.EnableGRPCGateway = false
	cfg.LogLevel = "warn"
	// The apiserver compacts through the storage layer; keep the backend small on its own too.
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "1h"

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		s.removeCertificates()
		return nil, fmt.Errorf("embedded etcd: start in %s: %w", dataDir, err)
	}
	fail := func(err error) (*Server, error) {
		e.Close()
		s.removeCertificates()
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		return fail(fmt.Errorf("embedded etcd: %w", err))
	case <-time.After(60 * time.Second):
		return fail(fmt.Errorf("embedded etcd: not ready after 60s (data directory %s)", dataDir))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	s.etcd = e
	s.ClientURL = "https://" + e.Clients[0].Addr().String()
	return s, nil
}

// Stop stops etcd after the apiserver has stopped using it, and removes this run's
// certificates and keys.
func (s *Server) Stop() {
	s.etcd.Close()
	s.removeCertificates()
}

func (s *Server) removeCertificates() {
	_ = os.RemoveAll(s.tlsDir)
}

// certificateFiles are the paths writeCertificates wrote.
type certificateFiles struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

// certificateValidity outlasts any process: the certificates are worthless once it ends
// (the next start makes a new CA), so a shorter one would only stop a long-running server.
const certificateValidity = 10 * 365 * 24 * time.Hour

// writeCertificates replaces dir (mode 0700) with a new CA's certificate, a serving
// certificate for 127.0.0.1 and localhost, and a client certificate, files mode 0600.
// The CA's key stays in memory and is dropped: no other certificate can ever be made.
func writeCertificates(dir string) (certificateFiles, error) {
	// Never reuse (or follow a symlink planted in place of) an earlier run's directory.
	if err := os.RemoveAll(dir); err != nil {
		return certificateFiles{}, err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return certificateFiles{}, err
	}
	caCert, caKey, err := newCA("cluster-apiserver embedded etcd CA")
	if err != nil {
		return certificateFiles{}, err
	}
	f := certificateFiles{
		ca:         filepath.Join(dir, "ca.crt"),
		serverCert: filepath.Join(dir, "server.crt"),
		serverKey:  filepath.Join(dir, "server.key"),
		clientCert: filepath.Join(dir, "client.crt"),
		clientKey:  filepath.Join(dir, "client.key"),
	}
	if err := writePEM(f.ca, "CERTIFICATE", caCert.Raw); err != nil {
		return certificateFiles{}, err
	}
	server := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "cluster-apiserver embedded etcd"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if err := issue(server, caCert, caKey, f.serverCert, f.serverKey); err != nil {
		return certificateFiles{}, err
	}
	client := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "cluster-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if err := issue(client, caCert, caKey, f.clientCert, f.clientKey); err != nil {
		return certificateFiles{}, err
	}
	return f, nil
}

// newCA makes a self-signed CA that can sign leaf certificates only.
func newCA(name string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	template := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	if err := setSerialAndValidity(template); err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// issue signs template with the CA and writes the certificate and a new key.
func issue(template, caCert *x509.Certificate, caKey *ecdsa.PrivateKey, certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	template.KeyUsage = x509.KeyUsageDigitalSignature
	if err := setSerialAndValidity(template); err != nil {
		return err
	}
	der, err := x509.CreateCertificate(rand.Reader, template, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writePEM(certFile, "CERTIFICATE", der); err != nil {
		return err
	}
	return writePEM(keyFile, "PRIVATE KEY", keyDER)
}

func setSerialAndValidity(template *x509.Certificate) error {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return err
	}
	template.SerialNumber = serial
	now := time.Now()
	template.NotBefore = now.Add(-time.Minute)
	template.NotAfter = now.Add(certificateValidity)
	return nil
}

// writePEM creates path (it must not exist) with mode 0600.
func writePEM(path, blockType string, der []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = pem.Encode(f, &pem.Block{Type: blockType, Bytes: der})
	return errors.Join(err, f.Close())
}
