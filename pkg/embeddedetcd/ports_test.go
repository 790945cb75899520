package embeddedetcd

import (
	"net"
	"runtime"
	"strconv"
	"testing"

	"kubesphere.io/multicluster/internal/procnet"
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
	addrs, err := procnet.ListeningTCP("self")
	if err != nil {
		t.Fatal(err)
	}
	ports := map[int]string{}
	for port, ip := range addrs {
		ports[port] = net.JoinHostPort(ip.String(), strconv.Itoa(port))
	}
	return ports
}
