package security

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"kubesphere.io/multicluster/internal/procnet"
)

// TestEmbeddedEtcd attacks the registered cluster-apiserver's embedded etcd as another
// local process would: it finds every loopback port the process listens on besides its
// serving port and tries to list all keys there without the process's client certificate.
// Reading etcd directly would bypass admission and authorization for every object.
func TestEmbeddedEtcd(t *testing.T) {
	pidFile := filepath.Join(env.Dir, "pids", "host-cluster-apiserver.pid")
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("cluster-apiserver pid file: %v", err)
	}
	pid := strings.TrimSpace(string(data))
	listening, err := procnet.ListeningTCP(pid)
	require.NoError(t, err, "the sockets of cluster-apiserver")
	var ports []int
	for port, ip := range listening {
		switch {
		case port == env.Ports.ClusterAPIServer:
		case ip.IsLoopback() || ip.IsUnspecified():
			// Also wildcard listeners: they answer on 127.0.0.1 as well.
			ports = append(ports, port)
		default:
			t.Logf("port %d on %s: not reachable on 127.0.0.1, not probed", port, ip)
		}
	}
	t.Logf("cluster-apiserver (pid %s) listens on %v; probing %v", pid, listening, ports)
	if len(ports) == 0 {
		t.Fatalf("cluster-apiserver (pid %s) listens on no loopback port besides %d: the embedded etcd was not found, so nothing was tested",
			pid, env.Ports.ClusterAPIServer)
	}

	// Control: with the process's own client certificate one of the ports is its etcd and
	// holds the clusters. Without this, refusals could only mean the ports are not etcd.
	tlsDir := filepath.Join(env.Dir, "data", "cluster-apiserver", "tls")
	own, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, "client.crt"), filepath.Join(tlsDir, "client.key"))
	if err != nil {
		t.Fatalf("cluster-apiserver's own etcd client certificate (the control): %v", err)
	}
	foreign := etcdForeignCertificate(t)
	etcdPorts := 0
	for _, port := range ports {
		addr := "127.0.0.1:" + strconv.Itoa(port)
		//nolint:gosec // the control only needs to be let in
		if keys, err := etcdList(addr, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{own}}); err == nil {
			etcdPorts++
			if !etcdHasPrefix(keys, "/registry/clusters.kubesphere.io/") {
				t.Errorf("%s: the embedded etcd, read with cluster-apiserver's own certificate, holds no /registry/clusters.kubesphere.io/ key (%d keys)", addr, len(keys))
			}
		}

		for _, attempt := range []struct {
			name string
			cfg  *tls.Config
		}{
			{"no TLS", nil},
			{"TLS without a client certificate", &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // an intruder
			{"TLS with a certificate of another CA", &tls.Config{InsecureSkipVerify: true, //nolint:gosec // an intruder
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &foreign, nil }}},
		} {
			probe(t, "embedded etcd", fmt.Sprintf("list all keys on %s, %s", addr, attempt.name), func() error {
				keys, err := etcdList(addr, attempt.cfg)
				if err != nil {
					t.Logf("%s, %s: refused: %v", addr, attempt.name, err)
					return nil
				}
				return fmt.Errorf("an etcd client (%s) listed %d keys on %s, e.g. %q: the embedded etcd must take only cluster-apiserver's own client certificate",
					attempt.name, len(keys), addr, etcdFirst(keys))
			})
		}
	}
	// And cluster-apiserver's own storage client gets in: its etcd readiness check passes.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a health check
	// (/readyz/etcd itself is not open to anonymous requests; /readyz is.)
	resp, err := client.Get(env.ClusterAPIServerURL() + "/readyz?verbose")
	if err != nil {
		t.Errorf("cluster-apiserver /readyz: %v", err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "[+]etcd ok") ||
			!strings.Contains(string(body), "[+]etcd-readiness ok") {
			t.Errorf("cluster-apiserver /readyz?verbose answered %d: want the etcd checks ok:\n%s", resp.StatusCode, body)
		}
	}
	if etcdPorts != 1 {
		t.Errorf("%d of the ports %v answered as etcd to cluster-apiserver's own client certificate: want exactly one, the embedded etcd's client port", etcdPorts, ports)
	}
}

// etcdList lists every key at addr as a plain etcd v3 client would.
func etcdList(addr string, cfg *tls.Config) ([]string, error) {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, TLS: cfg, DialTimeout: 3 * time.Second})
	if err != nil {
		return nil, err
	}
	defer func() { _ = c.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Get(ctx, "/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
	}
	return keys, nil
}

func etcdHasPrefix(keys []string, prefix string) bool {
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

func etcdFirst(keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	return keys[0]
}

// etcdForeignCertificate is a client certificate of a CA the intruder made itself.
func etcdForeignCertificate(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cluster-apiserver"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
