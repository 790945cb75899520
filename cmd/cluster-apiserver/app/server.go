package app

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/klog/v2"

	"kubesphere.io/multicluster/internal/cli"
	"kubesphere.io/multicluster/pkg/embeddedetcd"
)

// NewCommand returns the cluster-apiserver command.
func NewCommand() *cobra.Command {
	o := NewOptions()
	cmd := &cobra.Command{
		Use:   "cluster-apiserver",
		Short: "Serve the clusters.kubesphere.io API on the host cluster",
		Long: `cluster-apiserver is an aggregated API server, registered on the host cluster's
kube-apiserver by an APIService, that serves the clusters.kubesphere.io API: the member
clusters registered with the host. Authentication and authorization are delegated to the
host. With no --etcd-servers it runs an embedded etcd in --embedded-etcd-data-dir.`,
		SilenceUsage: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return o.ComponentGlobals.Set()
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unexpected arguments %q: cluster-apiserver takes flags only", args)
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return Run(genericapiserver.SetupSignalContext(), o)
		},
	}
	return cli.AddFlags(cmd, o.Flags())
}

// Run starts the server (and the embedded etcd, if any) and blocks until ctx is done.
func Run(ctx context.Context, o *Options) error {
	if o.Embedded() {
		etcd, err := embeddedetcd.Start(ctx, o.EmbeddedEtcdDataDir)
		if err != nil {
			return err
		}
		// Stopped after the API server has drained: it is the server's storage.
		defer etcd.Stop()
		klog.InfoS("Started embedded etcd", "dataDir", o.EmbeddedEtcdDataDir, "url", etcd.ClientURL)
		// The embedded etcd takes only this run's client certificate; the storage, its
		// compactor and the /readyz etcd check all dial with this transport.
		transport := &o.Recommended.Etcd.StorageConfig.Transport
		transport.ServerList = []string{etcd.ClientURL}
		transport.CertFile, transport.KeyFile, transport.TrustedCAFile = etcd.CertFile, etcd.KeyFile, etcd.CAFile
	}
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	server, err := cfg.Complete().New()
	if err != nil {
		return err
	}
	// Admission plugins watch the host through this factory.
	server.GenericAPIServer.AddPostStartHookOrDie("start-host-informers", func(hook genericapiserver.PostStartHookContext) error {
		cfg.GenericConfig.SharedInformerFactory.Start(hook.Done())
		return nil
	})
	if err := server.GenericAPIServer.PrepareRun().RunWithContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return err
	}
	return nil
}
