package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/klog/v2"

	clustersapi "kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/internal/cli"
	"kubesphere.io/multicluster/pkg/agenttoken"
	"kubesphere.io/multicluster/pkg/tunnel"
)

// ProxyOptions are the flags of tower proxy.
type ProxyOptions struct {
	BindAddress         string
	SecurePort          int
	TLSCertFile         string
	TLSKeyFile          string
	ClientCAFile        string
	AllowedDialers      []string
	Kubeconfig          string
	Namespace           string
	ShutdownGracePeriod time.Duration
}

func newProxyCommand() *cobra.Command {
	o := &ProxyOptions{BindAddress: "0.0.0.0", SecurePort: 8443, AllowedDialers: tunnel.DefaultDialers,
		Namespace: clustersapi.DefaultNamespace, ShutdownGracePeriod: 5 * time.Second}
	var fss cliflag.NamedFlagSets
	fs := fss.FlagSet("serving")
	fs.StringVar(&o.BindAddress, "bind-address", o.BindAddress, "Address to listen on for agents and host components.")
	fs.IntVar(&o.SecurePort, "secure-port", o.SecurePort, "Port to listen on (TLS, HTTP/1.1).")
	fs.StringVar(&o.TLSCertFile, "tls-cert-file", o.TLSCertFile, "Serving certificate (PEM). Agents verify it against the CA pinned at join. Required.")
	fs.StringVar(&o.TLSKeyFile, "tls-private-key-file", o.TLSKeyFile, "Key of --tls-cert-file. Required.")
	fs = fss.FlagSet("host components")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", o.ClientCAFile,
		"CA bundle that verifies host components' client certificates (their common name is their user name). "+
			"Without it, host components authenticate with service account tokens, checked by the host's TokenReview.")
	fs.StringSliceVar(&o.AllowedDialers, "allowed-dialers", o.AllowedDialers,
		"Users that may open streams to clusters: the host components that proxy to and probe members. No one else may.")
	fs = fss.FlagSet("host")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Kubeconfig of the host cluster. Empty means in-cluster.")
	fs.StringVar(&o.Namespace, "namespace", o.Namespace,
		"Host namespace of the agents' token Secrets (<cluster>-agent-token, labelled "+clustersapi.AgentTokenLabel+"); the proxy reads no other Secret.")
	fs = fss.FlagSet("lifecycle")
	fs.DurationVar(&o.ShutdownGracePeriod, "shutdown-grace-period", o.ShutdownGracePeriod,
		"On SIGTERM, how long streams in flight may go on before the tunnels close. Agents are told to go at once and reconnect to the other replicas.")

	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Accept agents' tunnels on the host and carry host components' streams over them",
		Long: `tower proxy runs on the host, with two or more replicas. Agents dial in with their join token and
keep one tunnel each; cluster-apiserver and controller-manager open streams to a cluster with
CONNECT <cluster>:443 and speak HTTP to the member's API server over them. Every agent connects
to every replica, so any replica can serve any cluster.`,
		SilenceUsage: true,
		RunE:         func(cmd *cobra.Command, args []string) error { return run(args, o.Validate, o.Run) },
	}
	return cli.AddFlags(cmd, fss)
}

// Validate reports every bad flag at once.
func (o *ProxyOptions) Validate() error {
	var errs []error
	if o.TLSCertFile == "" || o.TLSKeyFile == "" {
		errs = append(errs, errors.New("--tls-cert-file and --tls-private-key-file are required"))
	}
	if o.SecurePort < 1 || o.SecurePort > 65535 {
		errs = append(errs, fmt.Errorf("--secure-port %d is not a port", o.SecurePort))
	}
	if net.ParseIP(o.BindAddress) == nil {
		errs = append(errs, fmt.Errorf("--bind-address %q is not an IP address", o.BindAddress))
	}
	if len(o.AllowedDialers) == 0 {
		errs = append(errs, errors.New("--allowed-dialers must name at least one user, or no one can reach Agent clusters"))
	}
	if o.Namespace == "" {
		errs = append(errs, errors.New("--namespace must not be empty"))
	}
	if o.ShutdownGracePeriod < 0 {
		errs = append(errs, errors.New("--shutdown-grace-period must not be negative"))
	}
	return utilerrors.NewAggregate(errs)
}

// Run serves until ctx ends, then drains.
func (o *ProxyOptions) Run(ctx context.Context) error {
	cfg, err := cli.ClientConfig(o.Kubeconfig, "host", "tower-proxy")
	if err != nil {
		return err
	}
	host, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(o.TLSCertFile, o.TLSKeyFile)
	if err != nil {
		return fmt.Errorf("serving certificate: %w", err)
	}
	// Full-size TLS records from the start: tunnels are long-lived and carry bulk data.
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12,
		DynamicRecordSizingDisabled: true}
	if o.ClientCAFile != "" {
		pool, err := cli.CertPool("--client-ca-file", o.ClientCAFile)
		if err != nil {
			return err
		}
		// Agents present no certificate (their token says who they are); host components may.
		tlsCfg.ClientCAs, tlsCfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}

	factory := informers.NewSharedInformerFactoryWithOptions(host, 0, informers.WithNamespace(o.Namespace),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = agenttoken.LabelSelector }))
	secrets := factory.Core().V1().Secrets()
	lookup := func(cluster string) (string, bool) {
		s, err := secrets.Lister().Secrets(o.Namespace).Get(agenttoken.SecretName(cluster))
		if err != nil {
			return "", false
		}
		owner, hash, ok := agenttoken.HashOf(s)
		return hash, ok && owner == cluster
	}
	server := tunnel.NewServer(lookup, tunnel.AuthorizeUsers(o.AllowedDialers, host.AuthenticationV1().TokenReviews()))
	// A token that changes or goes closes its tunnels at once.
	revalidate := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if s, ok := obj.(*corev1.Secret); ok {
			if cluster := agenttoken.ClusterOf(s.Name); cluster != "" {
				server.Revalidate(cluster)
			}
		}
	}
	if _, err := secrets.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) { revalidate(obj) },
		DeleteFunc: revalidate,
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), secrets.Informer().HasSynced) {
		return errors.New("the token Secrets did not sync")
	}

	l, err := net.Listen("tcp", net.JoinHostPort(o.BindAddress, strconv.Itoa(o.SecurePort)))
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           server,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		// HTTP/1.1 only: tunnels and CONNECT take over the connection.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     nil,
	}
	klog.InfoS("Serving tunnels", "address", l.Addr().String())
	errCh := make(chan error, 1)
	// TLS on a batching listener: what a tunnel flushes goes out in one write.
	go func() { errCh <- srv.Serve(tls.NewListener(tunnel.BatchListener(l), tlsCfg)) }()
	select {
	case err := <-errCh:
		return err
	case <-ctx.Done():
	}
	klog.InfoS("Shutting down", "grace", o.ShutdownGracePeriod)
	_ = l.Close()
	server.Shutdown(context.Background(), o.ShutdownGracePeriod)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	return nil
}
