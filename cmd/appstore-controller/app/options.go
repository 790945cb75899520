package app

import (
	"fmt"
	"time"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	cliflag "k8s.io/component-base/cli/flag"

	clustersapi "kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/internal/cli"
	"kubesphere.io/multicluster/internal/leaderelect"
	"kubesphere.io/multicluster/pkg/controller/apprelease"
)

// Options are the command's flags.
type Options struct {
	Kubeconfig   string
	KubeAPIQPS   float32
	KubeAPIBurst int
	// ClusterAPIServer is where Helm's requests go, each under /clusters/<name>/.
	ClusterAPIServer cli.ClusterAPIServer
	Workers          int
	// PendingRevisionGrace is how long past a release's timeout a pending Helm revision
	// of this controller's is left before it is taken as cut off and marked failed.
	PendingRevisionGrace time.Duration

	LeaderElection leaderelect.Options
}

// NewOptions returns the defaults: in-cluster, cluster-apiserver's Service.
func NewOptions() *Options {
	return &Options{
		KubeAPIQPS: 20, KubeAPIBurst: 40,
		ClusterAPIServer:     cli.NewClusterAPIServer(),
		Workers:              4,
		PendingRevisionGrace: apprelease.DefaultPendingGrace,
		LeaderElection:       leaderelect.NewOptions(clustersapi.ControllerManagerNamespace, "kubesphere-appstore-controller"),
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
	fs.DurationVar(&o.PendingRevisionGrace, "pending-revision-grace", o.PendingRevisionGrace,
		"How long past a release's spec.timeout a pending Helm revision this controller made is left alone before it is taken as cut off "+
			"(its replica died mid-operation), marked failed and the release's operation run again. A replica that is stopped finishes its "+
			"operation within the timeout plus 2m: a shorter grace can take such an operation for a dead one during a handover.")

	o.LeaderElection.AddFlags(fss.FlagSet("leader election"))
	return fss
}

// Validate reports every bad flag at once.
func (o *Options) Validate() error {
	errs := o.ClusterAPIServer.Validate()
	if o.PendingRevisionGrace <= 0 {
		errs = append(errs, fmt.Errorf("--pending-revision-grace must be positive"))
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
