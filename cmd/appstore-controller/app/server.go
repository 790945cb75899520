package app

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	clientset "kubesphere.io/multicluster/generated/clientset/versioned"
	clusterinformers "kubesphere.io/multicluster/generated/informers/externalversions"
	"kubesphere.io/multicluster/internal/cli"
	"kubesphere.io/multicluster/internal/leaderelect"
	"kubesphere.io/multicluster/pkg/appstore/helmexec"
	"kubesphere.io/multicluster/pkg/controller/apprelease"
)

// NewCommand returns the appstore-controller command.
func NewCommand() *cobra.Command {
	o := NewOptions()
	cmd := &cobra.Command{
		Use:   "appstore-controller",
		Short: "Install the App Store's releases on member clusters, as their requesters",
		Long: `appstore-controller installs, upgrades, rolls back and uninstalls each ApplicationRelease's
Helm release on every cluster of its placement. Every Helm request goes through
cluster-apiserver's /clusters/<name>/ path impersonating the user the host recorded as the
release's requester, so the host's per-cluster gate and the member's RBAC decide, as for
that user's kubectl. Its own identity may impersonate recorded requesters on that path only
(docs/security.md). Run two replicas: a Lease elects the active one.`,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unexpected arguments %q: appstore-controller takes flags only", args)
			}
			if err := o.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return Run(ctx, o)
		},
	}
	return cli.AddFlags(cmd, o.Flags())
}

// Run runs the controller until ctx ends, as the leader when leader election is on.
func Run(ctx context.Context, o *Options) error {
	cfg, err := cli.ClientConfig(o.Kubeconfig, "host", "kubesphere-appstore-controller")
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	hostClient, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	client, err := clientset.NewForConfig(cfg)
	if err != nil {
		return err
	}
	helm := helmexec.New(o.ClusterAPIServer.Config(cfg), logr.ToSlogHandler(klog.Background().V(4)))
	run := func(ctx context.Context) {
		factory := clusterinformers.NewSharedInformerFactory(client, 0)
		c, err := apprelease.New(client, helm, factory.Appstore().V1alpha1().ApplicationReleases(), factory.Clusters().V1alpha1().Clusters(),
			o.PendingRevisionGrace)
		if err != nil {
			klog.ErrorS(err, "Starting the release controller")
			os.Exit(1)
		}
		factory.Start(ctx.Done())
		c.Run(ctx, o.Workers)
	}
	leaderelect.Run(ctx, o.LeaderElection, hostClient.CoordinationV1(), run)
	return nil
}
