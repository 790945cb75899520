package app

import (
	"fmt"
	"net/url"
	"os"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	cliflag "k8s.io/component-base/cli/flag"

	clustersapi "kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/internal/leaderelect"
)

// Options are the command's flags.
type Options struct {
	Kubeconfig   string
	KubeAPIQPS   float32
	KubeAPIBurst int
	// ClusterAPIServerURL is where Helm's requests go, each under /clusters/<name>/.
	ClusterAPIServerURL    string
	ClusterAPIServerCAFile string
	Workers                int

	LeaderElection leaderelect.Options
}

// NewOptions returns the defaults: in-cluster, cluster-apiserver's Service.
func NewOptions() *Options {
	return &Options{
		KubeAPIQPS: 20, KubeAPIBurst: 40,
		ClusterAPIServerURL: "https://cluster-apiserver." + clustersapi.DefaultNamespace + ".svc:443",
		// Where artifacts/ mounts the Secret cluster-apiserver-ca.
		ClusterAPIServerCAFile: "/etc/cluster-apiserver/ca.crt",
		Workers:                4,
		LeaderElection:         leaderelect.NewOptions(clustersapi.ControllerManagerNamespace, "kubesphere-appstore-controller"),
	}
}

// Flags returns the flags by section.
func (o *Options) Flags() cliflag.NamedFlagSets {
	var fss cliflag.NamedFlagSets
	fs := fss.FlagSet("host")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig,
		"Kubeconfig of the host cluster, for ApplicationReleases, Clusters and chart downloads; its credentials also authenticate the Helm requests. Empty means in-cluster.")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS, "Requests per second to the host's API server (status writes, chart downloads).")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "Burst above --kube-api-qps.")

	fs = fss.FlagSet("members")
	fs.StringVar(&o.ClusterAPIServerURL, "cluster-apiserver-url", o.ClusterAPIServerURL,
		"HTTPS URL of cluster-apiserver's own port: Helm reaches cluster <name> at <url>/clusters/<name>/, impersonating the release's requester.")
	fs.StringVar(&o.ClusterAPIServerCAFile, "cluster-apiserver-ca-file", o.ClusterAPIServerCAFile,
		"PEM bundle that verifies cluster-apiserver's serving certificate.")
	fs.IntVar(&o.Workers, "workers", o.Workers, "Releases worked on at the same time; the clusters of one release run in parallel.")

	o.LeaderElection.AddFlags(fss.FlagSet("leader election"))
	return fss
}

// Validate reports every bad flag at once.
func (o *Options) Validate() error {
	var errs []error
	if u, err := url.Parse(o.ClusterAPIServerURL); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		errs = append(errs, fmt.Errorf("--cluster-apiserver-url %q must be an https://host[:port] URL with no path", o.ClusterAPIServerURL))
	}
	if _, err := os.Stat(o.ClusterAPIServerCAFile); err != nil {
		errs = append(errs, fmt.Errorf("--cluster-apiserver-ca-file: %w", err))
	}
	if o.Workers < 1 {
		errs = append(errs, fmt.Errorf("--workers must be at least 1"))
	}
	if o.KubeAPIQPS <= 0 || o.KubeAPIBurst < 1 {
		errs = append(errs, fmt.Errorf("--kube-api-qps must be positive and --kube-api-burst at least 1"))
	}
	if err := o.LeaderElection.Validate(); err != nil {
		errs = append(errs, err)
	}
	return utilerrors.NewAggregate(errs)
}
