// Package proxy tests the clusters/proxy subresource and the /clusters/{name}/ path against
// a real host and real members, with the pinned kubectl as the client.
package proxy

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"kubesphere.io/multicluster/internal/localenv"
)

var env *localenv.Env

func TestMain(m *testing.M) {
	os.Exit(localenv.RunTests("cluster-proxy-test", func(e *localenv.Env) { e.AgentMembers = []string{"member2"} },
		func(e *localenv.Env) int { env = e; return m.Run() }, "member1", "member2"))
}

func kubectl(t *testing.T, kubeContext, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return env.Kubectl(ctx, kubeContext, stdin, args...)
}

func must(t *testing.T, kubeContext, stdin string, args ...string) string {
	t.Helper()
	out, err := kubectl(t, kubeContext, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// kubeconfigFor writes a kubeconfig for user (a host certificate) whose server is
// server, trusting the host CA: the shape a user gets for either proxy path.
func kubeconfigFor(t *testing.T, user, server string, groups ...string) string {
	t.Helper()
	hostKC, err := env.IssueClientCert("host", user, groups...)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(hostKC)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Clusters["host"].Server = server
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// restFor is the host admin's client configuration pointed at server.
func restFor(t *testing.T, server string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: env.Kubeconfig()},
		&clientcmd.ConfigOverrides{CurrentContext: "host", ClusterInfo: clientcmdapi.Cluster{Server: server}}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func clientcmdConfig(kubeconfig string) (*rest.Config, error) {
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}, &clientcmd.ConfigOverrides{}).ClientConfig()
}
