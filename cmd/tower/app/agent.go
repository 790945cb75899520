package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/clientcmd"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/klog/v2"

	"kubesphere.io/multicluster/internal/cli"
	"kubesphere.io/multicluster/pkg/tunnel"
)

// AgentOptions are the flags of tower agent.
type AgentOptions struct {
	ClusterName       string
	ProxyServers      []string
	ProxyCAFile       string
	TokenFile         string
	Kubeconfig        string
	HealthBindAddress string
	BackoffInitial    time.Duration
	BackoffMax        time.Duration
}

func newAgentCommand() *cobra.Command {
	o := &AgentOptions{BackoffInitial: tunnel.DefaultBackoff.Initial, BackoffMax: tunnel.DefaultBackoff.Max}
	var fss cliflag.NamedFlagSets
	fs := fss.FlagSet("host")
	fs.StringVar(&o.ClusterName, "cluster-name", o.ClusterName, "Name of this cluster's Cluster on the host, as given to join. Required.")
	fs.StringSliceVar(&o.ProxyServers, "proxy-servers", o.ProxyServers,
		"URLs of the host's tower proxies (https://host:port, comma-separated). A name with several addresses "+
			"is every replica: the agent keeps a tunnel to each. Required.")
	fs.StringVar(&o.ProxyCAFile, "proxy-ca-file", o.ProxyCAFile,
		"The host CA from the join command: the only CA trusted for the tower proxies' certificates. Required.")
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
	if len(o.ProxyServers) == 0 {
		errs = append(errs, errors.New("--proxy-servers is required"))
	}
	if o.ProxyCAFile == "" || o.TokenFile == "" {
		errs = append(errs, errors.New("--proxy-ca-file and --token-file are required"))
	}
	if o.BackoffInitial <= 0 || o.BackoffMax < o.BackoffInitial {
		errs = append(errs, errors.New("--reconnect-backoff-initial must be positive and at most --reconnect-backoff-max"))
	}
	return utilerrors.NewAggregate(errs)
}

// Run keeps the tunnels up until ctx ends.
func (o *AgentOptions) Run(ctx context.Context) error {
	roots, err := cli.CertPool("--proxy-ca-file", o.ProxyCAFile)
	if err != nil {
		return err
	}
	if _, err := os.Stat(o.TokenFile); err != nil {
		return fmt.Errorf("--token-file: %w", err)
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: o.Kubeconfig}, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return fmt.Errorf("member kubeconfig: %w", err)
	}
	cfg.UserAgent = "tower-agent"
	forwarder, err := tunnel.NewForwarder(o.ClusterName, cfg)
	if err != nil {
		return err
	}
	agent := &tunnel.Agent{
		Cluster: o.ClusterName, TokenFile: o.TokenFile, Servers: o.ProxyServers, RootCAs: roots,
		Handler: forwarder, Backoff: tunnel.Backoff{Initial: o.BackoffInitial, Max: o.BackoffMax},
	}
	if o.HealthBindAddress != "" {
		if err := serveHealth(ctx, o.HealthBindAddress, agent.Connected); err != nil {
			return err
		}
	}
	klog.InfoS("Agent starting", "cluster", o.ClusterName, "proxies", o.ProxyServers, "member", cfg.Host)
	return agent.Run(ctx)
}

func serveHealth(ctx context.Context, addr string, ready func() bool) error {
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
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	context.AfterFunc(ctx, func() { _ = srv.Close() })
	return nil
}
