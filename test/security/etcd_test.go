package security

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
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
	listening := etcdListeningAddrs(t, pid)
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

// etcdListeningAddrs maps the TCP ports process pid listens on to their local address:
// its socket inodes (/proc/<pid>/fd) looked up in its network namespace's tables.
func etcdListeningAddrs(t *testing.T, pid string) map[int]net.IP {
	t.Helper()
	fdDir := filepath.Join("/proc", pid, "fd")
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		t.Fatalf("sockets of cluster-apiserver (pid %s): %v", pid, err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	addrs := map[int]net.IP{}
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(filepath.Join("/proc", pid, "net", table))
		if err != nil {
			continue // no IPv6
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] { // 0A: LISTEN
				continue
			}
			hexIP, hexPort, _ := strings.Cut(fields[1], ":")
			raw, err1 := hex.DecodeString(hexIP)
			port, err2 := strconv.ParseInt(hexPort, 16, 32)
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: address %q", table, fields[1])
			}
			// The address is printed as 32-bit words in host byte order (little-endian).
			for i := 0; i+4 <= len(raw); i += 4 {
				raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
			}
			addrs[int(port)] = net.IP(raw)
		}
		_ = f.Close()
	}
	return addrs
}
