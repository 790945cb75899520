package localenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// certValidity is long enough for a dev environment, short enough to be obviously local.
const certValidity = 365 * 24 * time.Hour

// ca is a certificate authority made at run time; no key is ever committed.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// CertFile is the CA's PEM file.
	CertFile string
}

func newSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err)
	}
	return n
}

// loadOrCreateCA reuses dir/name.{crt,key} so that a second local-up keeps every
// kubeconfig and APIService valid.
func loadOrCreateCA(dir, name string) (*ca, error) {
	certFile, keyFile := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if c, k, err := readPair(certFile, keyFile); err == nil {
		return &ca{cert: c, key: k, CertFile: certFile}, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	if err := writePair(certFile, keyFile, der, key); err != nil {
		return nil, err
	}
	return &ca{cert: cert, key: key, CertFile: certFile}, nil
}

// issue signs a leaf certificate. Serving certificates get DNS names and 127.0.0.1;
// client certificates get the user name as CN and groups as O.
func (c *ca) issue(dir, name, cn string, orgs []string, dnsNames []string, serving bool) (certFile, keyFile string, err error) {
	return c.issueFor(dir, name, cn, orgs, dnsNames, serving, certValidity)
}

// issueFor is issue with a validity of the caller's choice.
func (c *ca) issueFor(dir, name, cn string, orgs []string, dnsNames []string, serving bool, validity time.Duration) (certFile, keyFile string, err error) {
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	// Kept across restarts while it still says the same: an identity renamed by a newer
	// version of this code gets a new certificate.
	if cert, _, err := readPair(certFile, keyFile); err == nil && cert.CheckSignatureFrom(c.cert) == nil &&
		time.Until(cert.NotAfter) > min(24*time.Hour, validity/2) && cert.Subject.CommonName == cn && slices.Equal(cert.Subject.Organization, orgs) {
		return certFile, keyFile, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(),
		Subject:      pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if serving {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = append([]string{"localhost"}, dnsNames...)
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return "", "", err
	}
	return certFile, keyFile, writePair(certFile, keyFile, der, key)
}

// serviceAccountKey makes the key pair a kube-apiserver signs service account tokens with.
func serviceAccountKey(dir, name string) (pubFile, keyFile string, err error) {
	pubFile, keyFile = filepath.Join(dir, name+".pub"), filepath.Join(dir, name+".key")
	if _, err := os.Stat(pubFile); err == nil {
		return pubFile, keyFile, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", err
	}
	if err := writeKey(keyFile, key); err != nil {
		return "", "", err
	}
	return pubFile, keyFile, os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
}

func writePair(certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	if err := writeKey(keyFile, key); err != nil {
		return err
	}
	return os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeKey(keyFile string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

func readPair(certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	cblock, _ := pem.Decode(cb)
	kblock, _ := pem.Decode(kb)
	if cblock == nil || kblock == nil {
		return nil, nil, fmt.Errorf("%s or %s is not PEM", certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(cblock.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kblock.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

type pair struct{ cert, key string }

type pki struct {
	cas map[string]*ca
	// serving certificates by component id, admin client certificates by cluster.
	serving map[string]pair
	admin   map[string]pair
	sa      map[string]pair
	client  map[string]pair
}

func (e *Env) makePKI() (*pki, error) {
	dir := filepath.Join(e.Dir, "pki")
	p := &pki{cas: map[string]*ca{}, serving: map[string]pair{}, admin: map[string]pair{}, sa: map[string]pair{}, client: map[string]pair{}}
	var err error
	// One CA per cluster: a host certificate is worth nothing on a member, and back.
	for _, c := range append([]string{"host", "front-proxy"}, e.Members...) {
		if p.cas[c], err = loadOrCreateCA(dir, c+"-ca"); err != nil {
			return nil, err
		}
	}
	issue := func(caName, file, cn string, orgs, dns []string, serving bool) (pair, error) {
		c, k, err := p.cas[caName].issue(dir, file, cn, orgs, dns, serving)
		return pair{c, k}, err
	}
	steps := []func() error{}
	for _, c := range append([]string{"host"}, e.Members...) {
		c := c
		steps = append(steps,
			func() (err error) {
				p.serving[c+"-kube-apiserver"], err = issue(c, c+"-kube-apiserver", c+"-kube-apiserver", nil,
					[]string{"kubernetes", "kubernetes.default", "kubernetes.default.svc"}, true)
				return err
			},
			func() (err error) {
				p.admin[c], err = issue(c, c+"-admin", "kubernetes-admin", []string{"system:masters"}, nil, false)
				return err
			},
			func() (err error) {
				var s pair
				s.cert, s.key, err = serviceAccountKey(dir, c+"-sa")
				p.sa[c] = s
				return err
			},
		)
	}
	for _, m := range e.Members {
		m := m
		steps = append(steps,
			func() (err error) {
				p.client[m+"-kube-controller-manager"], err = issue(m, m+"-kube-controller-manager", "system:kube-controller-manager", nil, nil, false)
				return err
			},
			func() (err error) {
				p.client[m+"-kube-scheduler"], err = issue(m, m+"-kube-scheduler", "system:kube-scheduler", nil, nil, false)
				return err
			},
			func() (err error) {
				p.client[m+"-kwok"], err = issue(m, m+"-kwok", "system:kwok", []string{"system:masters"}, nil, false)
				return err
			},
			func() (err error) {
				p.serving[m+"-kwok"], err = issue(m, m+"-kwok-serving", m+"-kwok", nil, nil, true)
				return err
			},
			func() (err error) {
				p.client[m+"-cluster-proxy"], err = issue(m, m+"-cluster-proxy", ClusterProxyUser, nil, nil, false)
				return err
			},
		)
	}
	steps = append(steps,
		func() (err error) {
			p.client["front-proxy-client"], err = issue("front-proxy", "front-proxy-client", "front-proxy-client", nil, nil, false)
			return err
		},
		func() (err error) {
			// The aggregator checks the name <service>.<namespace>.svc.
			p.serving["host-cluster-apiserver"], err = issue("host", "host-cluster-apiserver", "cluster-apiserver", nil,
				[]string{"cluster-apiserver." + Namespace + ".svc"}, true)
			return err
		},
		func() (err error) {
			p.client["host-cluster-apiserver"], err = issue("host", "host-cluster-apiserver-client", ClusterAPIServerUser, nil, nil, false)
			return err
		},
		func() (err error) {
			p.client["host-controller-manager"], err = issue("host", "host-controller-manager", ControllerManagerUser, nil, nil, false)
			return err
		},
		func() (err error) {
			p.client["host-appstore-controller"], err = issue("host", "host-appstore-controller", AppStoreControllerUser, nil, nil, false)
			return err
		},
		func() (err error) {
			p.serving["host-tower-proxy"], err = issue("host", "host-tower-proxy", "tower-proxy", nil,
				[]string{"tower-proxy." + Namespace + ".svc", "tower-proxy-replicas." + Namespace + ".svc"}, true)
			return err
		},
		func() (err error) {
			p.client["host-tower-proxy"], err = issue("host", "host-tower-proxy-client", TowerProxyUser, nil, nil, false)
			return err
		},
		func() (err error) {
			// The host registered as a cluster of its own (Env.RegisterHost) is reached
			// with the same least-privilege user as the members.
			p.client["host-cluster-proxy"], err = issue("host", "host-cluster-proxy", ClusterProxyUser, nil, nil, false)
			return err
		},
		func() (err error) {
			p.client["host-"+DeveloperUser], err = issue("host", "host-developer", DeveloperUser, []string{"developers"}, nil, false)
			return err
		},
		func() (err error) {
			p.client["host-"+MetricsReaderUser], err = issue("host", "host-metrics-reader", MetricsReaderUser, nil, nil, false)
			return err
		},
		func() (err error) {
			// Signed by the host CA, so tests verify whom they scrape; an install makes a
			// self-signed one in memory.
			p.serving["host-controller-manager"], err = issue("host", "host-controller-manager-serving", "controller-manager", nil, nil, true)
			return err
		},
	)
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// IssueClientCert issues a client certificate for user (with groups) on cluster and
// writes a kubeconfig for it; tests use it to act as non-admin users.
func (e *Env) IssueClientCert(cluster, user string, groups ...string) (kubeconfig string, err error) {
	return e.IssueClientCertValidFor(cluster, user, certValidity, groups...)
}

// IssueClientCertValidFor is IssueClientCert with a certificate that expires after
// validity (tests of expiry warnings).
func (e *Env) IssueClientCertValidFor(cluster, user string, validity time.Duration, groups ...string) (kubeconfig string, err error) {
	file := cluster + "-user-" + strings.NewReplacer(":", "_", "/", "_").Replace(user)
	if validity != certValidity {
		file += "-" + validity.String()
	}
	cert, key, err := e.pki.cas[cluster].issueFor(filepath.Join(e.Dir, "pki"), file, user, groups, nil, false, validity)
	if err != nil {
		return "", err
	}
	kubeconfig = filepath.Join(e.Dir, "pki", file+".kubeconfig")
	return kubeconfig, e.writeKubeconfig(kubeconfig, cluster, pair{cert, key})
}

// CAFile is the CA certificate of a cluster (host, member1, ...).
func (e *Env) CAFile(cluster string) string { return e.pki.cas[cluster].CertFile }
