package app

import (
	"fmt"
	"net"
	"time"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	cliflag "k8s.io/component-base/cli/flag"
	netutils "k8s.io/utils/net"

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
	// SecureServing, Authentication and Authorization serve /metrics and the health checks
	// as kube-controller-manager and kube-scheduler do: HTTPS, callers authenticated and
	// authorized by the host. Same flags as k8s.io/apiserver's options (serving.go,
	// delegated.go).
	SecureServing  *SecureServingOptions
	Authentication *AuthenticationOptions
	Authorization  *AuthorizationOptions
	// Tower reaches Agent clusters through the tower proxies, as cluster-apiserver does.
	Tower  tunnel.DialerOptions
	Health clusterhealth.Options

	LeaderElect        bool
	LeaseNamespace     string
	LeaseName          string
	LeaseDuration      time.Duration
	LeaseRenewDeadline time.Duration
	LeaseRetryPeriod   time.Duration
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		CredentialsNamespace: "kubesphere-system",
		// client-go's 5 QPS wrote the first status of 1,000 new clusters in over 3 minutes.
		KubeAPIQPS:   50,
		KubeAPIBurst: 100,
		SecureServing: &SecureServingOptions{
			// Loopback by default, as before: a pod sets --bind-address=0.0.0.0 so that
			// Prometheus and the kubelet reach it.
			BindAddress: netutils.ParseIPSloppy("127.0.0.1"),
			BindPort:    DefaultSecurePort,
			// No --cert-dir by default: the self-signed certificate is made in memory, since
			// the container's root filesystem is read-only.
			PairName: "controller-manager",
		},
		Authentication: NewAuthenticationOptions(),
		// The kubelet probes /healthz, /readyz and /livez without credentials (the default
		// --authorization-always-allow-paths); everything else needs the host's say.
		Authorization:      NewAuthorizationOptions(),
		Health:             clusterhealth.DefaultOptions(),
		LeaderElect:        true,
		LeaseNamespace:     "kube-federation-system",
		LeaseName:          "kubesphere-controller-manager",
		LeaseDuration:      15 * time.Second,
		LeaseRenewDeadline: 10 * time.Second,
		LeaseRetryPeriod:   2 * time.Second,
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

	o.SecureServing.AddFlags(fss.FlagSet("secure serving"))
	o.Authentication.AddFlags(fss.FlagSet("authentication"))
	o.Authorization.AddFlags(fss.FlagSet("authorization"))

	fs = fss.FlagSet("cluster health")
	fs.DurationVar(&o.Health.Interval, "probe-interval", o.Health.Interval, "Time between two probes of one cluster's /readyz (falling back to /healthz).")
	fs.DurationVar(&o.Health.Timeout, "probe-timeout", o.Health.Timeout, "Time one probe may take, all its requests together; a slower member counts as unreachable.")
	fs.IntVar(&o.Health.FailureThreshold, "failure-threshold", o.Health.FailureThreshold, "Failed probes in a row that turn a Ready cluster not Ready.")
	fs.IntVar(&o.Health.SuccessThreshold, "success-threshold", o.Health.SuccessThreshold, "Successful probes in a row that turn a not Ready cluster Ready.")
	fs.IntVar(&o.Health.Workers, "probe-workers", o.Health.Workers, "Clusters probed at the same time; the others wait their turn.")
	fs.DurationVar(&o.Health.StatusRefresh, "status-refresh-interval", o.Health.StatusRefresh,
		"Status is written when it changes, and at least this often to refresh status.lastProbeTime; never on every probe.")

	fs = fss.FlagSet("leader election")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "Elect one active replica with a Lease; turn off only when exactly one replica runs.")
	fs.StringVar(&o.LeaseNamespace, "leader-elect-resource-namespace", o.LeaseNamespace, "Namespace of the Lease.")
	fs.StringVar(&o.LeaseName, "leader-elect-resource-name", o.LeaseName, "Name of the Lease.")
	fs.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", o.LeaseDuration, "How long a standby waits after the leader's last renewal before it takes over.")
	fs.DurationVar(&o.LeaseRenewDeadline, "leader-elect-renew-deadline", o.LeaseRenewDeadline, "How long the leader keeps trying to renew before it stops working.")
	fs.DurationVar(&o.LeaseRetryPeriod, "leader-elect-retry-period", o.LeaseRetryPeriod, "Time between two attempts to take or renew the Lease.")
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
	errs = append(errs, o.SecureServing.Validate()...)
	errs = append(errs, o.Authentication.Validate()...)
	errs = append(errs, o.Authorization.Validate()...)
	if o.LeaderElect && !(o.LeaseRetryPeriod < o.LeaseRenewDeadline && o.LeaseRenewDeadline < o.LeaseDuration) {
		errs = append(errs, fmt.Errorf("leader election needs retry period < renew deadline < lease duration"))
	}
	return utilerrors.NewAggregate(errs)
}

// Config is what Run runs with: the options, and the secure port built from them.
type Config struct {
	Options *Options
	// SecureServing is nil when --secure-port is 0: nothing is served.
	SecureServing  *SecureServingInfo
	Authentication AuthenticationInfo
	Authorization  AuthorizationInfo
}

// Config builds the secure port from validated options: it makes a self-signed
// certificate when none is given, reads the host's client CAs for the delegated
// authentication (a host that refuses them fails the start), and listens (a port in use
// fails the start, not later).
func (o *Options) Config() (*Config, error) {
	c := &Config{Options: o}
	if !o.SecureServing.enabled() {
		return c, nil
	}
	serving, err := o.SecureServing.applyTo("localhost", nil, []net.IP{netutils.ParseIPSloppy("127.0.0.1")})
	if err != nil {
		return nil, fmt.Errorf("secure port: %w", err)
	}
	// The host to delegate to is the host this component works on: with no kubeconfig of
	// their own the reviews go there with its identity, as in-cluster they would.
	authn, authz := *o.Authentication, *o.Authorization
	if authn.RemoteKubeConfigFile == "" {
		authn.RemoteKubeConfigFile = o.Kubeconfig
	}
	if authz.RemoteKubeConfigFile == "" {
		authz.RemoteKubeConfigFile = o.Kubeconfig
	}
	err = authn.applyTo(&c.Authentication, serving)
	if err != nil {
		err = fmt.Errorf("delegated authentication (the host's service account needs the ClusterRole system:auth-delegator and, in kube-system, the Role %s): %w", authenticationRoleName, err)
	} else if err = authz.applyTo(&c.Authorization); err != nil {
		err = fmt.Errorf("delegated authorization: %w", err)
	}
	if err != nil {
		_ = serving.Listener.Close()
		return nil, err
	}
	c.SecureServing = serving
	return c, nil
}
