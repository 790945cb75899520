package app

import (
	"fmt"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	cliflag "k8s.io/component-base/cli/flag"

	clustersapi "kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/internal/cli"
	"kubesphere.io/multicluster/internal/leaderelect"
)

// Options are the command's flags.
type Options struct {
	Kubeconfig   string
	KubeAPIQPS   float32
	KubeAPIBurst int
	// ClusterAPIServer is where Helm's requests go, each under /clusters/<name>/.
	ClusterAPIServer cli.ClusterAPIServer
	Workers          int

	LeaderElection leaderelect.Options
}

// NewOptions returns the defaults: in-cluster, cluster-apiserver's Service.
func NewOptions() *Options {
	return &Options{
		KubeAPIQPS: 20, KubeAPIBurst: 40,
		ClusterAPIServer: cli.NewClusterAPIServer(),
		Workers:          4,
		LeaderElection:   leaderelect.NewOptions(clustersapi.ControllerManagerNamespace, "kubesphere-appstore-controller"),
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
	o.ClusterAPIServer.AddFlags(fs, "Helm's requests, impersonating the release's requester,")
	fs.IntVar(&o.Workers, "workers", o.Workers, "Releases worked on at the same time; the clusters of one release run in parallel.")

	o.LeaderElection.AddFlags(fss.FlagSet("leader election"))
	return fss
}

// Validate reports every bad flag at once.
func (o *Options) Validate() error {
	errs := o.ClusterAPIServer.Validate()
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
