// Package localenv runs a whole host + members environment on 127.0.0.1 from real
// upstream binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)
// and the project's own. `make local-up` and the integration tests both use it, so the
// recipe exists once.
//
// One file per job: env.go (Env, Up), ports.go, pki.go (every certificate), etcd.go,
// controlplane.go (the kube-apiservers), members.go (a member's controllers and kwok),
// kubeconfig.go, kubectl.go, clusterapiserver.go, controllermanager.go, tower.go,
// registration.go (members on the host), secrets.go, appstore.go (the App Store's chart
// repository and OCI registry), process.go (start, ready, stop) and testmain.go (RunTests).
package localenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"kubesphere.io/multicluster/apis/appstore"
	clustersapi "kubesphere.io/multicluster/apis/clusters"
)

// Identities the environment gives to the project's components.
const (
	// ClusterAPIServerUser is cluster-apiserver's user on the host: its client
	// certificate carries the name of the ServiceAccount the manifests (artifacts/) bind,
	// so the environment runs on exactly their RBAC.
	ClusterAPIServerUser = clustersapi.ClusterAPIServerUser
	// ClusterProxyUser is the user the host's credentials Secret holds on each member: it
	// may only impersonate (and read what health checks need).
	ClusterProxyUser = "system:kubesphere:cluster-proxy"
	// ControllerManagerUser is controller-manager's user on the host, named like
	// ClusterAPIServerUser after its ServiceAccount in artifacts/.
	ControllerManagerUser = clustersapi.ControllerManagerUser
	// TowerProxyUser is the tower proxies' user on the host, after their ServiceAccount.
	TowerProxyUser = clustersapi.TowerProxyUser
	// AppStoreControllerUser is appstore-controller's user on the host.
	AppStoreControllerUser = appstore.ControllerUser
	// ControllerManagerNamespace holds controller-manager's leader-election Lease.
	ControllerManagerNamespace = clustersapi.ControllerManagerNamespace
	// DeveloperUser is a non-admin host user that may use clusters/proxy on the first
	// member only, and has view rights there (edit in its default namespace).
	DeveloperUser = "developer"
	// MetricsReaderUser is a host user bound to the manifests' ClusterRole
	// kubesphere:metrics-reader, as an install binds Prometheus: tests scrape as it.
	MetricsReaderUser = "metrics-reader"
	// Namespace is where the control plane's objects live on the host.
	Namespace = clustersapi.DefaultNamespace
	// APIServiceName registers cluster-apiserver with the host's aggregator.
	APIServiceName = "v1alpha1.clusters.kubesphere.io"
	// AppStoreAPIServiceName registers its App Store group.
	AppStoreAPIServiceName = "v1alpha1.appstore.kubesphere.io"
)

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
	// AppStoreRepos also runs the App Store's sources (appstore.go): an HTTPS Helm
	// repository of the charts in ChartsDir and an OCI registry with them pushed. Off
	// unless asked for; local-env up turns it on.
	AppStoreRepos bool
	// ClusterAPIServerArgs are extra flags of the registered cluster-apiserver.
	ClusterAPIServerArgs []string
	// AppStorePendingGrace is appstore-controller's --pending-revision-grace; zero keeps
	// its default. Tests of cut-off operations shorten it.
	AppStorePendingGrace time.Duration
	// ChartsDir holds the chart directories AppStoreRepos serves; empty is the tree's
	// test/testdata/charts (found from BinDir, <root>/_output/bin).
	ChartsDir string
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

// ViaHostURL is member m reached through the host kube-apiserver's clusters/proxy path.
func (e *Env) ViaHostURL(m string) string {
	return e.HostURL() + "/apis/clusters.kubesphere.io/v1alpha1/clusters/" + m + "/proxy"
}

// DirectPathURL is member m reached through cluster-apiserver's own /clusters/ path.
func (e *Env) DirectPathURL(m string) string {
	return e.ClusterAPIServerURL() + "/clusters/" + m
}

func (e *Env) clusterURL(cluster string) string {
	if cluster == "host" {
		return e.HostURL()
	}
	return e.MemberURL(cluster)
}

// Up starts (or, when already running, restarts) every component and waits for each to
// be ready. On failure it stops what it started and returns the failing component's log
// tail.
func (e *Env) Up(ctx context.Context) (err error) {
	bins := []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "cluster-apiserver", "controller-manager", "tower"}
	if e.AppStoreRepos {
		bins = append(bins, appStoreBinaries...)
	}
	for _, bin := range bins {
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
	// The App Store's sources need only certificates: they come up while the API servers
	// start.
	if e.AppStoreRepos {
		if err := e.StartAppStoreRepos(ctx); err != nil {
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
	if err := e.StartControllerManager(ctx, "controller-manager"); err != nil {
		return err
	}
	if !e.AppStoreRepos {
		return nil
	}
	return e.StartAppStoreController(ctx)
}

func (e *Env) checkPortsFree() error {
	ports := map[string]int{"etcd": e.Ports.Etcd, "etcd peer": e.Ports.EtcdPeer, "host kube-apiserver": e.Ports.Host,
		"cluster-apiserver": e.Ports.ClusterAPIServer}
	for i, p := range e.Ports.TowerProxies {
		ports[fmt.Sprintf("tower proxy %d", i+1)] = p
	}
	if e.AppStoreRepos {
		ports["chart repository"], ports["registry"] = e.Ports.ChartRepo, e.Ports.Registry
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
