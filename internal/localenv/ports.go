package localenv

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Ports are the TCP ports the environment listens on, all on 127.0.0.1.
type Ports struct {
	Etcd             int
	EtcdPeer         int
	Host             int
	ClusterAPIServer int
	// Members maps a member's name to its kube-apiserver port; its kwok kubelet port is
	// the next one.
	Members map[string]int
	// TowerProxies are the ports of the tower proxy replicas (two: tunnels must work
	// whichever replica a request reaches).
	TowerProxies []int
	// ChartRepo is the App Store's HTTPS Helm repository and Registry its OCI registry
	// (Env.AppStoreRepos only).
	ChartRepo int
	Registry  int
}

// DefaultPorts are the documented defaults of make local-up.
func DefaultPorts() Ports {
	return Ports{Etcd: 12379, EtcdPeer: 12380, Host: 16443, ClusterAPIServer: 17443,
		Members: map[string]int{"member1": 26443, "member2": 36443}, TowerProxies: []int{18443, 18444},
		ChartRepo: 19443, Registry: 19444}
}

// freePort is a port on 127.0.0.1 that nothing listens on now. It is drawn below the
// kernel's ephemeral range: a port the kernel hands out for ":0" is also the local port
// of the next outgoing connection, so another test package dialing its servers took
// one between our probe and the component's bind (seen: kwok "address already in use").
func freePort() (int, error) { return freePorts(1) }

// handedOut are the ports freePorts gave out in this process. A port handed out is not
// bound until its component starts, so a probe finds it free: without this record one
// environment got the same port for etcd and a tower proxy.
var (
	handedOutMu sync.Mutex
	handedOut   = map[int]bool{}
	// portRange overrides where ports are drawn from (tests).
	portRange [2]int
)

// freePorts returns the first of n adjacent ports that are free and were never handed out
// before, and marks them handed out.
func freePorts(n int) (int, error) {
	low, high := 20000, ephemeralLow()-n
	if high-low < 1000 {
		low = high - 1000
	}
	if portRange[1] > 0 {
		low, high = portRange[0], portRange[1]-n+1
	}
	handedOutMu.Lock()
	defer handedOutMu.Unlock()
	for range 200 {
		port := low + rand.IntN(high-low)
		if claim(port, n) {
			for i := range n {
				handedOut[port+i] = true
			}
			return port, nil
		}
	}
	return 0, fmt.Errorf("no %d free adjacent ports on 127.0.0.1 in [%d, %d)", n, low, high+n-1)
}

// claim reports whether ports [port, port+n) are free here and in no other process's
// hands, and if so reserves them across processes.
func claim(port, n int) bool {
	for i := range n {
		if handedOut[port+i] {
			return false
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+i))
		if err != nil {
			return false
		}
		l.Close()
	}
	// Test packages run as parallel processes, each with its own record: one drew a port
	// another had handed out but not yet bound (make test: cluster-apiserver "address
	// already in use"). A port is also reserved across processes, by a lock on its byte of
	// one shared file; the kernel drops a process's locks when it exits.
	return reserve(port, n)
}

var (
	reservations     *os.File
	reservationsOnce sync.Once
	reservationsErr  error
)

// reserve locks bytes [port, port+n) of the shared reservation file for this process, or
// reports false when another live process holds any of them.
func reserve(port, n int) bool {
	reservationsOnce.Do(func() {
		// Opened once and never closed: closing any descriptor of the file would drop
		// this process's locks on it.
		reservations, reservationsErr = os.OpenFile(filepath.Join(os.TempDir(), "kubesphere-multicluster-ports.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	})
	if reservationsErr != nil {
		return true // no shared file: the probe and this process's record still hold
	}
	lock := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: io.SeekStart, Start: int64(port), Len: int64(n)}
	return syscall.FcntlFlock(reservations.Fd(), syscall.F_SETLK, &lock) == nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768 when unknown).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil || n < 2000 {
		return 32768
	}
	return n
}

// FreePorts picks unused ports, for tests that run beside a developer's local-up.
func FreePorts(members ...string) (Ports, error) {
	var p Ports
	var err error
	p.TowerProxies = make([]int, 2)
	for _, dst := range []*int{&p.Etcd, &p.EtcdPeer, &p.Host, &p.ClusterAPIServer, &p.TowerProxies[0], &p.TowerProxies[1], &p.ChartRepo, &p.Registry} {
		if *dst, err = freePort(); err != nil {
			return p, err
		}
	}
	p.Members = map[string]int{}
	for _, m := range members {
		// A member needs two adjacent ports (API server, kwok).
		if p.Members[m], err = freePorts(2); err != nil {
			return p, err
		}
	}
	return p, nil
}

// FreePort is one port drawn as the environment's own are (below the ephemeral range,
// never handed out twice, reserved across test processes): for tests that start a
// component of their own beside an environment.
func FreePort() (int, error) { return freePort() }
