package procnet

import (
	"net"
	"runtime"
	"testing"
)

func TestListeningTCPFindsOurListener(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	got, err := ListeningTCP("self")
	if err != nil {
		t.Fatal(err)
	}
	if ip := got[port]; !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("port %d: listed as %v, want 127.0.0.1 (all: %v)", port, ip, got)
	}
	_ = l.Close()
	if got, _ := ListeningTCP("self"); got[port] != nil {
		t.Fatalf("port %d still listed after Close", port)
	}
}

func TestParseAddr(t *testing.T) {
	ip, port, err := parseAddr("0100007F:1F90")
	if err != nil || !ip.Equal(net.IPv4(127, 0, 0, 1)) || port != 8080 {
		t.Fatalf("parseAddr = %v, %d, %v; want 127.0.0.1, 8080", ip, port, err)
	}
	if _, _, err := parseAddr("zz:1"); err == nil {
		t.Fatal("parseAddr accepted a non-hex address")
	}
}
