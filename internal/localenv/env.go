// Package localenv runs a whole host + members environment on 127.0.0.1 from real
// upstream binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)
// and the project's own. `make local-up` and the integration tests both use it, so the
// recipe exists once.
package localenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
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
}

// DefaultPorts are the documented defaults of make local-up.
func DefaultPorts() Ports {
	return Ports{Etcd: 12379, EtcdPeer: 12380, Host: 16443, ClusterAPIServer: 17443,
		Members: map[string]int{"member1": 26443, "member2": 36443}, TowerProxies: []int{18443, 18444}}
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
	for _, dst := range []*int{&p.Etcd, &p.EtcdPeer, &p.Host, &p.ClusterAPIServer, &p.TowerProxies[0], &p.TowerProxies[1]} {
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

// Env is one environment, rooted at Dir.
type Env struct {
	// Dir holds pki/, logs/, pids/, data/ and the kubeconfig.
	Dir string
	// BinDir holds every binary the environment runs.
	BinDir string
	Ports  Ports
	// Members are the member clusters to run, in order.
	Members []string
	// Detach leaves the processes running after this program exits (make local-up);
	// otherwise they die with it (tests).
	Detach bool
	// Unjoined members run but are not registered on the host: tests of join do that.
	Unjoined []string
	// RegisterHost registers the host as a Direct Cluster named "host" with the label
	// cluster-role.kubesphere.io/host, so the host is managed like any member.
	RegisterHost bool
	// AgentMembers are joined by agent: a tower agent process per member dials the tower
	// proxies; the host holds no credential for them.
	AgentMembers []string
	// WithoutControllers leaves controller-manager out: for tests of the API alone, whose
	// Clusters must not get a status they did not write.
	WithoutControllers bool
	// Log reports progress; nil is quiet.
	Log func(format string, args ...any)

	mu     sync.Mutex
	exited map[int]chan struct{}
	// metrics are the HTTPS base URLs of the controller-manager replicas, by id.
	metrics map[string]string
	pki     *pki
}

// New returns an environment; nothing runs until Up.
func New(dir, binDir string, ports Ports, members ...string) (*Env, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	absBin, err := filepath.Abs(binDir)
	if err != nil {
		return nil, err
	}
	for _, m := range members {
		if ports.Members[m] == 0 {
			return nil, fmt.Errorf("no port for member %q", m)
		}
	}
	return &Env{Dir: absDir, BinDir: absBin, Ports: ports, Members: members, exited: map[int]chan struct{}{}, metrics: map[string]string{}}, nil
}

// joined are the members Up registers on the host.
func (e *Env) joined() []string {
	var out []string
	for _, m := range e.Members {
		if !slices.Contains(e.Unjoined, m) {
			out = append(out, m)
		}
	}
	return out
}

func (e *Env) logf(format string, args ...any) {
	if e.Log != nil {
		e.Log(format, args...)
	}
}

// Kubeconfig is the admin kubeconfig with a context per cluster.
func (e *Env) Kubeconfig() string { return filepath.Join(e.Dir, "kubeconfig") }

// HostURL is the host kube-apiserver.
func (e *Env) HostURL() string { return "https://127.0.0.1:" + strconv.Itoa(e.Ports.Host) }

// ClusterAPIServerURL is cluster-apiserver's own port.
func (e *Env) ClusterAPIServerURL() string {
	return "https://127.0.0.1:" + strconv.Itoa(e.Ports.ClusterAPIServer)
}

// MemberURL is a member's kube-apiserver.
func (e *Env) MemberURL(member string) string {
	return "https://127.0.0.1:" + strconv.Itoa(e.Ports.Members[member])
}

// Up starts (or, when already running, restarts) every component and waits for each to
// be ready. On failure it stops what it started and returns the failing component's log
// tail.
func (e *Env) Up(ctx context.Context) (err error) {
	for _, bin := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "cluster-apiserver", "controller-manager", "tower"} {
		if _, err := os.Stat(filepath.Join(e.BinDir, bin)); err != nil {
			return fmt.Errorf("%s is missing from %s: run `make tools build` first", bin, e.BinDir)
		}
	}
	// A second run restarts cleanly: stop what an earlier run left, keep data and certs.
	if running := e.Running(); len(running) > 0 {
		e.logf("stopping the running environment (%d processes) to restart it", len(running))
	}
	if err := e.Down(); err != nil {
		return err
	}
	// A port held by someone else (an environment whose pid files were lost, another
	// program) would answer our readiness checks for a process that failed to start.
	if err := e.checkPortsFree(); err != nil {
		return err
	}
	for _, d := range []string{"pki", "logs", "pids", "data"} {
		if err := os.MkdirAll(filepath.Join(e.Dir, d), 0o755); err != nil {
			return err
		}
	}
	defer func() {
		if err != nil {
			_ = e.Down()
		}
	}()
	if e.pki, err = e.makePKI(); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	if err := e.startEtcd(ctx); err != nil {
		return err
	}
	clusters := append([]string{"host"}, e.Members...)
	// The API servers start in parallel: each takes ~20 s, mostly waiting.
	for _, c := range clusters {
		if err := e.startKubeAPIServer(c); err != nil {
			return err
		}
	}
	for _, c := range clusters {
		if err := e.waitReady(ctx, c+"-kube-apiserver", e.clusterURL(c)+"/readyz", 120*time.Second); err != nil {
			return err
		}
	}
	if err := e.writeKubeconfigs(); err != nil {
		return err
	}
	for _, m := range e.Members {
		if err := e.startMember(ctx, m); err != nil {
			return err
		}
	}
	if err := e.setUpHost(ctx); err != nil {
		return err
	}
	if err := e.StartClusterAPIServer(ctx); err != nil {
		return err
	}
	if err := e.registerAPIService(ctx); err != nil {
		return err
	}
	if err := e.startTowerProxies(ctx); err != nil {
		return err
	}
	for _, m := range e.joined() {
		register := e.registerMember
		if slices.Contains(e.AgentMembers, m) {
			register = e.registerAgentMember
		}
		if err := register(ctx, m); err != nil {
			return err
		}
	}
	if e.RegisterHost {
		if err := e.registerMember(ctx, "host"); err != nil {
			return err
		}
	}
	if e.WithoutControllers {
		return nil
	}
	return e.StartControllerManager(ctx, "controller-manager")
}

func (e *Env) checkPortsFree() error {
	ports := map[string]int{"etcd": e.Ports.Etcd, "etcd peer": e.Ports.EtcdPeer, "host kube-apiserver": e.Ports.Host,
		"cluster-apiserver": e.Ports.ClusterAPIServer}
	for i, p := range e.Ports.TowerProxies {
		ports[fmt.Sprintf("tower proxy %d", i+1)] = p
	}
	for _, m := range e.Members {
		ports[m+" kube-apiserver"] = e.Ports.Members[m]
		ports[m+" kwok"] = e.Ports.Members[m] + 1
	}
	for what, port := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return fmt.Errorf("port %d (%s) is in use by another process; stop it or choose other ports (local-env up -h): %w", port, what, err)
		}
		l.Close()
	}
	return nil
}

func (e *Env) clusterURL(cluster string) string {
	if cluster == "host" {
		return e.HostURL()
	}
	return e.MemberURL(cluster)
}

func (e *Env) startEtcd(ctx context.Context) error {
	client := e.EtcdURL()
	peer := "http://127.0.0.1:" + strconv.Itoa(e.Ports.EtcdPeer)
	if err := e.start("host", "etcd", "etcd",
		"--name=local", "--data-dir="+filepath.Join(e.Dir, "data", "etcd"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=local="+peer, "--listen-metrics-urls=",
		"--quota-backend-bytes=4294967296", "--log-level=warn"); err != nil {
		return err
	}
	return e.waitReady(ctx, "host-etcd", client+"/health", 60*time.Second)
}

// waitReady polls url until it answers 200, trusting the environment's CAs.
func (e *Env) waitReady(ctx context.Context, id, url string, timeout time.Duration) error {
	client := e.httpClient()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				e.logf("%s is ready", id)
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if pid := e.Pid(id); pid != 0 && e.exitedNow(pid) {
			return fmt.Errorf("%s exited; last lines of %s:\n%s", id, e.LogFile(id), e.logTail(id, 40))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s not ready after %s (%s); last lines of %s:\n%s", id, timeout, last, e.LogFile(id), e.logTail(id, 40))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// httpClient trusts every CA of the environment and sends no client certificate: the
// health endpoints it polls are open to anonymous requests.
func (e *Env) httpClient() *http.Client {
	pool := x509.NewCertPool()
	if e.pki != nil {
		for _, c := range e.pki.cas {
			pool.AddCert(c.cert)
		}
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
}
