package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/spf13/cobra"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/klog/v2"

	"kubesphere.io/multicluster/internal/cli"
	"kubesphere.io/multicluster/pkg/tunnel"
)

// AgentOptions are the flags of tower agent.
type AgentOptions struct {
	ClusterName       string
	TowerProxyServers []string
	TowerProxyCAFile  string
	TokenFile         string
	Kubeconfig        string
	HealthBindAddress string
	Profiling         bool
	BackoffInitial    time.Duration
	BackoffMax        time.Duration
}

func newAgentCommand() *cobra.Command {
	o := &AgentOptions{BackoffInitial: tunnel.DefaultBackoff.Initial, BackoffMax: tunnel.DefaultBackoff.Max}
	var fss cliflag.NamedFlagSets
	fs := fss.FlagSet("host")
	fs.StringVar(&o.ClusterName, "cluster-name", o.ClusterName, "Name of this cluster's Cluster on the host, as given to join. Required.")
	fs.StringSliceVar(&o.TowerProxyServers, "tower-proxy-servers", o.TowerProxyServers,
		"URLs of the host's tower proxies (https://host:port, comma-separated). A name with several addresses "+
			"is every replica: the agent keeps a tunnel to each. Required.")
	fs.StringVar(&o.TowerProxyCAFile, "tower-proxy-ca-file", o.TowerProxyCAFile,
		"The host CA from the join command: the only CA trusted for the tower proxies' certificates. Required.")
	// Their names before they said which proxy they mean (as cluster-apiserver's do): still
	// accepted, deprecated.
	cli.AddDeprecatedAlias(fs, "proxy-servers", "tower-proxy-servers")
	cli.AddDeprecatedAlias(fs, "proxy-ca-file", "tower-proxy-ca-file")
	fs.StringVar(&o.TokenFile, "token-file", o.TokenFile,
		"File holding the join token. Read at each connection, so a rotated token needs no restart. Required.")
	fs.DurationVar(&o.BackoffInitial, "reconnect-backoff-initial", o.BackoffInitial,
		"First wait before reconnecting to a tower proxy; it doubles after each failure, with jitter (each wait is 50-100% of it).")
	fs.DurationVar(&o.BackoffMax, "reconnect-backoff-max", o.BackoffMax, "Longest wait between reconnection attempts.")
	fs = fss.FlagSet("member")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig,
		"Kubeconfig of this member's API server, the only place requests are forwarded to. Empty means in-cluster "+
			"(the agent's service account, whose only right is to impersonate).")
	fs.StringVar(&o.HealthBindAddress, "health-bind-address", o.HealthBindAddress,
		"Address of /healthz (the process runs) and /readyz (at least one tunnel is up), plain HTTP. Empty turns them off; in a pod use :8081.")
	fs = fss.FlagSet("runtime")
	fs.BoolVar(&o.Profiling, "profiling", o.Profiling,
		"Also serve Go's profiles at /debug/pprof/ on --health-bind-address. Off by default: that address has no authentication.")

	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run on a member: dial out to the host and serve its requests to this cluster's API server",
		Long: `tower agent runs on a member cluster that the host cannot dial. It opens one TLS connection to
every tower proxy replica, authenticated by the cluster's join token and trusting only the CA
pinned at join, and reconnects with capped exponential backoff and jitter. Each stream the host
opens carries one HTTP connection, which the agent forwards to its own API server with its own
credential; the caller's identity arrives as impersonation.`,
		SilenceUsage: true,
		RunE:         func(cmd *cobra.Command, args []string) error { return run(args, o.Validate, o.Run) },
	}
	return cli.AddFlags(cmd, fss)
}

// Validate reports every bad flag at once.
func (o *AgentOptions) Validate() error {
	var errs []error
	if msgs := validation.IsDNS1123Label(o.ClusterName); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("--cluster-name %q: %v", o.ClusterName, msgs))
	}
	if len(o.TowerProxyServers) == 0 {
		errs = append(errs, errors.New("--tower-proxy-servers is required"))
	}
	if o.TowerProxyCAFile == "" || o.TokenFile == "" {
		errs = append(errs, errors.New("--tower-proxy-ca-file and --token-file are required"))
	}
	if o.Profiling && o.HealthBindAddress == "" {
		errs = append(errs, errors.New("--profiling needs --health-bind-address"))
	}
	if o.BackoffInitial <= 0 || o.BackoffMax < o.BackoffInitial {
		errs = append(errs, errors.New("--reconnect-backoff-initial must be positive and at most --reconnect-backoff-max"))
	}
	return utilerrors.NewAggregate(errs)
}

// Run keeps the tunnels up until ctx ends.
func (o *AgentOptions) Run(ctx context.Context) error {
	roots, err := cli.CertPool("--tower-proxy-ca-file", o.TowerProxyCAFile)
	if err != nil {
		return err
	}
	if _, err := os.Stat(o.TokenFile); err != nil {
		return fmt.Errorf("--token-file: %w", err)
	}
	cfg, err := cli.ClientConfig(o.Kubeconfig, "member", "tower-agent")
	if err != nil {
		return err
	}
	forwarder, err := tunnel.NewForwarder(o.ClusterName, cfg)
	if err != nil {
		return err
	}
	agent := &tunnel.Agent{
		Cluster: o.ClusterName, TokenFile: o.TokenFile, Servers: o.TowerProxyServers, RootCAs: roots,
		Handler: forwarder, Backoff: tunnel.Backoff{Initial: o.BackoffInitial, Max: o.BackoffMax},
	}
	if o.HealthBindAddress != "" {
		if err := serveHealth(ctx, o.HealthBindAddress, o.Profiling, agent.Connected); err != nil {
			return err
		}
	}
	go releaseMemory(ctx, memoryReleasePeriod, memoryReleaseMin)
	klog.InfoS("Agent starting", "cluster", o.ClusterName, "proxies", o.TowerProxyServers, "member", cfg.Host)
	return agent.Run(ctx)
}

func serveHealth(ctx context.Context, addr string, profiling bool, ready func() bool) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--health-bind-address: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "no tunnel to any tower proxy is up", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	if profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	context.AfterFunc(ctx, func() { _ = srv.Close() })
	return nil
}

// memoryReleasePeriod and memoryReleaseMin: how often the agent looks at what it allocated,
// and how much makes a period busy.
const (
	memoryReleasePeriod = 15 * time.Second
	memoryReleaseMin    = 4 << 20
)

// releaseMemory gives back to the OS the heap a burst left behind. The agent runs on every
// member next to the workloads; after a burst (a big LIST, hundreds of watches) its heap
// holds the garbage until the next GC, which a quiet agent may not run for two minutes, and
// the freed pages stay with the process after that. So at the first quiet period (less
// than least bytes allocated) after a busy one, it collects and returns the free pages: at
// rest (keepalives only) and under steady load (when Go collects on its own) it does
// nothing. Looking costs a read of runtime metrics; a release, two GCs of a small heap.
func releaseMemory(ctx context.Context, period time.Duration, least uint64) {
	allocs := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(allocs)
	last := allocs[0].Value.Uint64()
	busy := false
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(allocs)
		now := allocs[0].Value.Uint64()
		allocated := now - last
		last = now
		if allocated >= least {
			busy = true
			continue
		}
		if busy {
			busy = false
			// Two collections: pooled copy buffers survive the first one.
			runtime.GC()
			debug.FreeOSMemory()
		}
	}
}
