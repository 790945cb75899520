// Package app is the kubectl-ksmc command line.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	clustersapi "kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/internal/cli"
	"kubesphere.io/multicluster/pkg/join"
)

type hostFlags struct {
	kubeconfig, context, credentialsNamespace string
}

func (h *hostFlags) add(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&h.kubeconfig, "host-kubeconfig", "", "Kubeconfig of the host cluster. Default: $KUBECONFIG, then ~/.kube/config (as kubectl).")
	cmd.PersistentFlags().StringVar(&h.context, "host-context", "", "Context of the host cluster in the host kubeconfig. Default: its current context.")
	cmd.PersistentFlags().StringVar(&h.credentialsNamespace, "credentials-namespace", clustersapi.DefaultNamespace, "Host namespace of the Secrets that hold members' credentials (cluster-apiserver's --credentials-namespace).")
}

func (h *hostFlags) config() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if h.kubeconfig != "" {
		rules.ExplicitPath = h.kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: h.context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("host kubeconfig: %w", err)
	}
	return cfg, nil
}

// configs are the member's configuration (nil without a kubeconfig) and the host's.
func (h *hostFlags) configs(memberKubeconfig, memberContext string) (member, host *rest.Config, err error) {
	if memberKubeconfig != "" {
		if member, err = memberConfig(memberKubeconfig, memberContext); err != nil {
			return nil, nil, err
		}
	}
	host, err = h.config()
	return member, host, err
}

// memberConfig loads the member's kubeconfig; it is read, used and never stored.
func memberConfig(path, context string) (*rest.Config, error) {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: path}, &clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("member kubeconfig %s: %w", path, err)
	}
	// The CA goes into the Cluster: inline it when the kubeconfig names a file.
	if err := rest.LoadTLSFiles(cfg); err != nil {
		return nil, fmt.Errorf("member kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

// NewCommand is the root command; out receives progress.
func NewCommand(out io.Writer) *cobra.Command {
	var host hostFlags
	root := &cobra.Command{
		Use:   "kubectl-ksmc",
		Short: "Join member clusters to the KubeSphere multi-cluster host, remove them, and federate manifests onto them",
		Long: `kubectl-ksmc joins member clusters to the host and removes them, and wraps manifests
into federated objects placed on them (federate).

The host is reached with the usual kubeconfig (as kubectl; --host-kubeconfig and
--host-context change it). Installed on PATH as kubectl-ksmc it also runs as
"kubectl ksmc".`,
		SilenceUsage: true,
	}
	host.add(root)
	root.AddCommand(newJoinCommand(&host, out), newUnjoinCommand(&host, out), newFederateCommand(&host, out))
	return root
}

func newJoinCommand(host *hostFlags, out io.Writer) *cobra.Command {
	var kubeconfig, context, endpoint, connection, proxyCAFile, image string
	var proxyServers []string
	var hostCluster bool
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "join NAME (--kubeconfig MEMBER_KUBECONFIG | --connection agent ...)",
		Short: "Register a member cluster on the host (Direct or Agent connection)",
		Long: `join registers a member cluster as a Cluster named NAME.

Direct (the default): it checks that the member is reachable and not joined yet (by its
kube-system UID), creates on the member a ServiceAccount whose only rights are what the
proxy needs (impersonation; reading namespaces and nodes), stores that ServiceAccount's
token in a Secret on the host and creates the Cluster. The member kubeconfig given here
is used for this only and stored nowhere.

Agent (--connection agent), for a member the host cannot dial: it creates the Cluster and
a join token for it, bound to NAME and kept on the host only as a hash, and makes the
member's manifests (the same ServiceAccount and RBAC, a Secret with the token and the
tower proxies' CA, and the tower agent Deployment). With --kubeconfig it applies them to
the member; without, it prints them, and this is the only time the token is shown.`,
		Example: `  kubectl ksmc join member1 --kubeconfig member1.kubeconfig
  kubectl-ksmc join edge-7 --kubeconfig admin.kubeconfig --context edge-7 --endpoint https://10.0.7.1:6443
  kubectl ksmc join host --kubeconfig host-admin.kubeconfig --host-cluster
  kubectl ksmc join store-42 --connection agent --tower-proxy-servers https://tower.example.com:8443 \
      --tower-proxy-ca-file tower-ca.crt --image registry.example.com/tower:v0.1.0 > store-42-agent.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			member, h, err := host.configs(kubeconfig, context)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			o := join.Options{Name: args[0], Member: member, Endpoint: endpoint, Host: h,
				CredentialsNamespace: host.credentialsNamespace, Wait: wait, Out: out, HostCluster: hostCluster}
			if hostCluster && strings.ToLower(connection) != "direct" {
				return errors.New("--host-cluster joins the host itself, which needs no agent: use a Direct connection")
			}
			switch strings.ToLower(connection) {
			case "direct":
				if member == nil {
					return errors.New("--kubeconfig (the member's kubeconfig) is required for a Direct connection")
				}
				return join.Join(ctx, o)
			case "agent":
				return joinAgent(ctx, cmd, o, proxyServers, proxyCAFile, image)
			default:
				return fmt.Errorf("--connection %q: use direct or agent", connection)
			}
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "Kubeconfig of the member cluster, with rights to create a ServiceAccount and RBAC there (required for Direct; for Agent, apply the manifests with it).")
	cmd.Flags().StringVar(&context, "context", "", "Context of the member in --kubeconfig. Default: its current context.")
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "Direct: the member's API server URL as the host reaches it. Default: the server of --kubeconfig.")
	cmd.Flags().StringVar(&connection, "connection", "direct", "How the host reaches the member: direct (the host dials it) or agent (tower agent on the member dials the host).")
	cmd.Flags().StringSliceVar(&proxyServers, "tower-proxy-servers", nil, "Agent: URLs of the host's tower proxies as the member reaches them (https://host:port, comma-separated).")
	cmd.Flags().StringVar(&proxyCAFile, "tower-proxy-ca-file", "", "Agent: CA of the tower proxies' serving certificates; the agent trusts this CA only.")
	// The names before tower agent's and cluster-apiserver's were made the same.
	cli.AddDeprecatedAlias(cmd.Flags(), "proxy-servers", "tower-proxy-servers")
	cli.AddDeprecatedAlias(cmd.Flags(), "proxy-ca-file", "tower-proxy-ca-file")
	cmd.Flags().StringVar(&image, "image", "", "Agent: the tower image of the agent's Deployment.")
	cmd.Flags().BoolVar(&hostCluster, "host-cluster", false, "The cluster joined is the host itself (--kubeconfig reaches the host's API server): it gets the label "+
		clustersapi.HostClusterLabel+" and is managed like any member. There is one host.")
	cmd.Flags().DurationVar(&wait, "wait", 60*time.Second, "How long to wait for the Cluster to become Ready (Agent: only when the manifests are applied); 0 returns at once.")
	return cmd
}

// joinAgent joins by agent and prints the member's manifests when it did not apply them.
func joinAgent(ctx context.Context, cmd *cobra.Command, o join.Options, proxyServers []string, proxyCAFile, image string) error {
	if len(proxyServers) == 0 || proxyCAFile == "" || image == "" {
		return errors.New("--connection agent needs --tower-proxy-servers, --tower-proxy-ca-file and --image")
	}
	ca, err := os.ReadFile(proxyCAFile)
	if err != nil {
		return fmt.Errorf("--tower-proxy-ca-file: %w", err)
	}
	if o.Member == nil {
		// The manifests go to stdout (kubectl apply -f -); progress must not mix with them.
		o.Out = cmd.ErrOrStderr()
	}
	res, err := join.JoinAgent(ctx, join.AgentOptions{Options: o, TowerProxyServers: proxyServers, TowerProxyCA: ca, Image: image})
	if err != nil || o.Member != nil {
		return err
	}
	manifests, err := join.ManifestsYAML(res.Manifests)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "apply the manifests below on the member (kubectl apply -f -); they hold the join token, shown only this once\n")
	_, err = cmd.OutOrStdout().Write(manifests)
	return err
}

func newUnjoinCommand(host *hostFlags, out io.Writer) *cobra.Command {
	var kubeconfig, context string
	cmd := &cobra.Command{
		Use:   "unjoin NAME [--kubeconfig MEMBER_KUBECONFIG]",
		Short: "Remove a member cluster from the host (and, given its kubeconfig, join's objects on it)",
		Long: `unjoin deletes the Cluster NAME and the credentials Secret join stored on the host.
With the member's kubeconfig it also deletes the ServiceAccount, token and RBAC join
created there, which revokes the host's access at once; without it the member is left
untouched. What is already gone is skipped, so unjoin can be run again.`,
		Example: `  kubectl ksmc unjoin member1 --kubeconfig member1.kubeconfig`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			member, h, err := host.configs(kubeconfig, context)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			return join.Unjoin(ctx, join.Options{Name: args[0], Member: member, Host: h,
				CredentialsNamespace: host.credentialsNamespace, Out: out})
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "Kubeconfig of the member cluster; when given, join's objects there are deleted too.")
	cmd.Flags().StringVar(&context, "context", "", "Context of the member in --kubeconfig. Default: its current context.")
	return cmd
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
