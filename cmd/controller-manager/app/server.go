package app

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	clientset "kubesphere.io/multicluster/generated/clientset/versioned"
	clusterscheme "kubesphere.io/multicluster/generated/clientset/versioned/scheme"
	clusterinformers "kubesphere.io/multicluster/generated/informers/externalversions"
	"kubesphere.io/multicluster/internal/cli"
	"kubesphere.io/multicluster/internal/leaderelect"
	"kubesphere.io/multicluster/internal/secureserving"
	"kubesphere.io/multicluster/pkg/clusterconn"
	"kubesphere.io/multicluster/pkg/controller/clustercleanup"
	"kubesphere.io/multicluster/pkg/controller/clusterhealth"
	"kubesphere.io/multicluster/pkg/controller/federation"
)

// NewCommand returns the controller-manager command.
func NewCommand() *cobra.Command {
	o := NewOptions()
	cmd := &cobra.Command{
		Use:   "controller-manager",
		Short: "Run the host's controllers for member clusters",
		Long: `controller-manager keeps the status of every member cluster true: it probes each one's
/readyz through the same connection cluster-apiserver proxies through, and writes the Ready
condition, version, node count, zones and identity. When a Cluster is deleted it removes the
credentials Secret kubectl-ksmc join stored for it (a finalizer). With --cluster-apiserver-url it
also runs federation: each FederatedObject and ClusterFederatedObject is server-side applied to
its clusters through cluster-apiserver's /clusters/<name>/ path as the user who asked, and its
status follows the member objects. Run two replicas: a Lease elects the active one and a standby
takes over when it stops renewing.`,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unexpected arguments %q: controller-manager takes flags only", args)
			}
			if err := o.Validate(); err != nil {
				return err
			}
			c, err := o.Config()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return Run(ctx, c)
		},
	}
	return cli.AddFlags(cmd, o.Flags())
}

// Run serves the secure port and runs the controllers until ctx ends, as the leader when
// leader election is on.
func Run(ctx context.Context, c *Config) error {
	o := c.Options
	cfg, err := cli.ClientConfig(o.Kubeconfig, "host", "kubesphere-controller-manager")
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	hostClient, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	clusterClient, err := clientset.NewForConfig(cfg)
	if err != nil {
		return err
	}
	registry := prometheus.NewRegistry()
	if c.SecureServing != nil {
		if err := serve(ctx, c, registry); err != nil {
			return err
		}
	}
	run := func(ctx context.Context) {
		if err := runControllers(ctx, o, cfg, hostClient, clusterClient, registry); err != nil {
			klog.ErrorS(err, "Controllers stopped")
			os.Exit(1)
		}
	}
	leaderelect.Run(ctx, o.LeaderElection, hostClient.CoordinationV1(), run)
	return nil
}

// serve serves /metrics from registry, and /healthz, /livez and /readyz, on the secure
// port until ctx ends. A standby serves them too: its /metrics holds only what the
// leader's controllers register.
func serve(ctx context.Context, c *Config, registry *prometheus.Registry) error {
	return c.SecureServing.Serve(ctx, secureserving.NewMux(registry))
}

func runControllers(ctx context.Context, o *Options, hostConfig *rest.Config, hostClient kubernetes.Interface, clusterClient clientset.Interface, registry prometheus.Registerer) error {
	clusterFactory := clusterinformers.NewSharedInformerFactory(clusterClient, 0)
	secretFactory := informers.NewSharedInformerFactoryWithOptions(hostClient, 0, informers.WithNamespace(o.CredentialsNamespace))
	// Probes of Agent clusters go through the tower proxies, as proxied requests do.
	var agents clusterconn.AgentDialer
	if dialer, err := o.Tower.Dialer(hostConfig); err != nil {
		return fmt.Errorf("--tower-proxy-ca-file: %w", err)
	} else if dialer != nil {
		agents = dialer
	}
	backends := clusterconn.NewBackends(secretFactory.Core().V1().Secrets().Lister(), o.CredentialsNamespace, agents)

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := clusterscheme.AddToScheme(scheme); err != nil {
		return err
	}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: hostClient.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme, corev1.EventSource{Component: "kubesphere-controller-manager"})

	health, err := clusterhealth.New(o.Health, clusterClient, clusterFactory.Clusters().V1alpha1().Clusters(), backends, recorder)
	if err != nil {
		return err
	}
	if err := health.Register(registry); err != nil {
		return err
	}
	cleanup, err := clustercleanup.New(clusterClient, hostClient, o.CredentialsNamespace, clusterFactory.Clusters().V1alpha1().Clusters())
	if err != nil {
		return err
	}
	var fed *federation.Controller
	if o.ClusterAPIServer.URL != "" {
		// Federation acts on members as each object's requester, through cluster-apiserver's
		// proxy paths with this component's own credentials (pkg/requesterauthz).
		informers := clusterFactory.Federation().V1alpha1()
		fed, err = federation.New(clusterClient, o.ClusterAPIServer.Config(hostConfig), informers.FederatedObjects(),
			informers.ClusterFederatedObjects(), clusterFactory.Clusters().V1alpha1().Clusters())
		if err != nil {
			return err
		}
	}
	clusterFactory.Start(ctx.Done())
	secretFactory.Start(ctx.Done())
	secretFactory.WaitForCacheSync(ctx.Done())
	var wg sync.WaitGroup
	wg.Go(func() { cleanup.Run(ctx, 2) })
	if fed != nil {
		wg.Go(func() { fed.Run(ctx, o.FederationWorkers) })
	}
	health.Run(ctx)
	wg.Wait()
	return nil
}
