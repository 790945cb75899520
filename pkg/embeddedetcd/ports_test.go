package embeddedetcd

import (
	"bufio"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// A single member needs no peer traffic, so there is no peer port to attack, nor a
// metrics one: Start opens exactly one listening socket, the client port.
func TestListensOnTheClientPortOnly(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	before := listeningPorts(t)
	s := startServer(t, t.TempDir())
	defer s.Stop()
	if n := len(s.etcd.Peers); n != 0 {
		t.Errorf("etcd has %d peer listeners: want none", n)
	}
	if u := s.etcd.Config().ListenMetricsUrls; len(u) != 0 {
		t.Errorf("etcd listens for metrics on %v: want no metrics port", u)
	}
	_, port, _ := net.SplitHostPort(endpoint(t, s))
	var opened []string
	for p, addr := range listeningPorts(t) {
		if _, ok := before[p]; !ok {
			opened = append(opened, addr)
		}
	}
	if len(opened) != 1 || opened[0] != "127.0.0.1:"+port {
		t.Errorf("Start opened listening sockets %v: want only the client port 127.0.0.1:%s", opened, port)
	}
}

// listeningPorts maps this process's listening TCP ports to their local address.
func listeningPorts(t *testing.T) map[int]string {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	ports := map[int]string{}
	for _, table := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue // no IPv6
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] {
				continue
			}
			ip, port := parseProcAddr(t, fields[1])
			ports[port] = net.JoinHostPort(ip.String(), strconv.Itoa(port))
		}
		_ = f.Close()
	}
	return ports
}

// parseProcAddr decodes /proc/net/tcp's "0100007F:1F90": the address as 32-bit words in
// host byte order (little-endian on every platform this runs on), the port in hex.
func parseProcAddr(t *testing.T, s string) (net.IP, int) {
	hexIP, hexPort, _ := strings.Cut(s, ":")
	raw, err := hex.DecodeString(hexIP)
	if err != nil {
		t.Fatalf("address %q: %v", s, err)
	}
	for i := 0; i+4 <= len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, err := strconv.ParseInt(hexPort, 16, 32)
	if err != nil {
		t.Fatalf("port %q: %v", s, err)
	}
	return net.IP(raw), int(port)
}
