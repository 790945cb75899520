package app

import (
	"fmt"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	cliflag "k8s.io/component-base/cli/flag"

	clustersapi "kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/internal/cli"
	"kubesphere.io/multicluster/internal/leaderelect"
	"kubesphere.io/multicluster/internal/secureserving"
	"kubesphere.io/multicluster/pkg/controller/clusterhealth"
	"kubesphere.io/multicluster/pkg/tunnel"
)

// DefaultSecurePort is where /metrics, /healthz, /livez and /readyz are served by default;
// near, not on, the ports of kube-controller-manager (10257) and kube-scheduler (10259).
const DefaultSecurePort = 10360

// Options are the command's flags.
type Options struct {
	Kubeconfig           string
	KubeAPIQPS           float32
	KubeAPIBurst         int
	CredentialsNamespace string
	// SecureServing serves /metrics and the health checks as kube-controller-manager and
	// kube-scheduler do: HTTPS, callers authenticated and authorized by the host. Same
	// flags as k8s.io/apiserver's options (internal/secureserving).
	SecureServing *secureserving.Options
	// Tower reaches Agent clusters through the tower proxies, as cluster-apiserver does.
	Tower  tunnel.DialerOptions
	Health clusterhealth.Options
	// ClusterAPIServer is where federation acts on members as users; federation runs
	// only when its URL is set.
	ClusterAPIServer  cli.ClusterAPIServer
	FederationWorkers int

	LeaderElection leaderelect.Options
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		CredentialsNamespace: clustersapi.DefaultNamespace,
		// client-go's 5 QPS wrote the first status of 1,000 new clusters in over 3 minutes.
		KubeAPIQPS:   50,
		KubeAPIBurst: 100,
		// Loopback, a certificate made in memory, the health checks open to anyone.
		SecureServing: secureserving.NewOptions("controller-manager", DefaultSecurePort),
		Health:        clusterhealth.DefaultOptions(),
		// No URL: federation off unless the install gives cluster-apiserver's address.
		ClusterAPIServer:  cli.ClusterAPIServer{CAFile: cli.NewClusterAPIServer().CAFile},
		FederationWorkers: 4,
		LeaderElection:    leaderelect.NewOptions(clustersapi.ControllerManagerNamespace, "kubesphere-controller-manager"),
	}
}

// Flags returns the flags by section.
func (o *Options) Flags() cliflag.NamedFlagSets {
	var fss cliflag.NamedFlagSets
	fs := fss.FlagSet("host")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig,
		"Kubeconfig of the host cluster (the clusters.kubesphere.io API is reached through its aggregator). Empty means in-cluster.")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS,
		"Requests per second to the host's API server (status writes, events, finalizers); probes of members are not counted.")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "Burst above --kube-api-qps.")
	fs.StringVar(&o.CredentialsNamespace, "credentials-namespace", o.CredentialsNamespace,
		"Host namespace of the Secrets that hold Direct clusters' credentials; must match cluster-apiserver's.")
	o.Tower.AddFlags(fs)

	o.SecureServing.AddFlags(&fss)

	fs = fss.FlagSet("cluster health")
	fs.DurationVar(&o.Health.Interval, "probe-interval", o.Health.Interval, "Time between two probes of one cluster's /readyz (falling back to /healthz).")
	fs.DurationVar(&o.Health.Timeout, "probe-timeout", o.Health.Timeout, "Time one probe may take, all its requests together; a slower member counts as unreachable.")
	fs.IntVar(&o.Health.FailureThreshold, "failure-threshold", o.Health.FailureThreshold, "Failed probes in a row that turn a Ready cluster not Ready.")
	fs.IntVar(&o.Health.SuccessThreshold, "success-threshold", o.Health.SuccessThreshold, "Successful probes in a row that turn a not Ready cluster Ready.")
	fs.IntVar(&o.Health.Workers, "probe-workers", o.Health.Workers, "Clusters probed at the same time; the others wait their turn.")
	fs.DurationVar(&o.Health.StatusRefresh, "status-refresh-interval", o.Health.StatusRefresh,
		"Status is written when it changes, and at least this often to refresh status.lastProbeTime; never on every probe.")

	fs = fss.FlagSet("federation")
	o.ClusterAPIServer.AddFlags(fs, "federation's server-side applies, impersonating each federated object's requester,")
	fs.Lookup("cluster-apiserver-url").Usage += " Empty (the default) runs no federation."
	fs.IntVar(&o.FederationWorkers, "federation-workers", o.FederationWorkers,
		"Federated objects worked on at the same time; the clusters of one object run in parallel.")
	o.LeaderElection.AddFlags(fss.FlagSet("leader election"))
	return fss
}

// Validate reports every bad flag at once.
func (o *Options) Validate() error {
	var errs []error
	h := o.Health
	if h.Interval <= 0 || h.Timeout <= 0 || h.StatusRefresh <= 0 {
		errs = append(errs, fmt.Errorf("--probe-interval, --probe-timeout and --status-refresh-interval must be positive"))
	}
	if h.Timeout > h.Interval {
		errs = append(errs, fmt.Errorf("--probe-timeout (%s) must not exceed --probe-interval (%s)", h.Timeout, h.Interval))
	}
	if h.FailureThreshold < 1 || h.SuccessThreshold < 1 || h.Workers < 1 {
		errs = append(errs, fmt.Errorf("--failure-threshold, --success-threshold and --probe-workers must be at least 1"))
	}
	if o.KubeAPIQPS <= 0 || o.KubeAPIBurst < 1 {
		errs = append(errs, fmt.Errorf("--kube-api-qps must be positive and --kube-api-burst at least 1"))
	}
	if o.CredentialsNamespace == "" {
		errs = append(errs, fmt.Errorf("--credentials-namespace must not be empty"))
	}
	if err := o.Tower.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.ClusterAPIServer.URL != "" {
		errs = append(errs, o.ClusterAPIServer.Validate()...)
	}
	if o.FederationWorkers < 1 {
		errs = append(errs, fmt.Errorf("--federation-workers must be at least 1"))
	}
	errs = append(errs, o.SecureServing.Validate()...)
	if err := o.LeaderElection.Validate(); err != nil {
		errs = append(errs, err)
	}
	return utilerrors.NewAggregate(errs)
}

// Config is what Run runs with: the options, and the secure port built from them.
type Config struct {
	Options *Options
	// SecureServing is nil when --secure-port is 0: nothing is served.
	SecureServing *secureserving.Config
}

// Config builds the secure port from validated options (secureserving.Options.Config): a
// host that refuses its client CAs, or a port in use, fails the start. The delegated
// reviews go to the host of --kubeconfig unless their own kubeconfigs are given.
func (o *Options) Config() (*Config, error) {
	serving, err := o.SecureServing.Config(o.Kubeconfig)
	if err != nil {
		return nil, err
	}
	return &Config{Options: o, SecureServing: serving}, nil
}
