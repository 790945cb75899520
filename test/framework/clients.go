package framework

import (
	"crypto/tls"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"kubesphere.io/multicluster/internal/localenv"
)

// RESTConfig is the client configuration of context kubeContext of kubeconfig (its
// current context when ""): env.Kubeconfig() for the admin, or a kubeconfig of
// env.IssueClientCert for a user, whose one context is named after its cluster.
func RESTConfig(t testing.TB, kubeconfig, kubeContext string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	require.NoError(t, err)
	return cfg
}

// AdminRESTConfig is the host admin's client configuration. A server that is not empty
// replaces the host's URL: cluster-apiserver's own port, a proxy path, another
// cluster-apiserver; the host CA signs them all.
func AdminRESTConfig(t testing.TB, env *localenv.Env, server string) *rest.Config {
	t.Helper()
	cfg := RESTConfig(t, env.Kubeconfig(), "host")
	if server != "" {
		cfg.Host = server
	}
	return cfg
}

// ClientCertificate is the client certificate of kubeconfig's current context (a
// kubeconfig of env.IssueClientCert), for clients that are not client-go.
func ClientCertificate(t testing.TB, kubeconfig string) tls.Certificate {
	t.Helper()
	cfg := RESTConfig(t, kubeconfig, "")
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	require.NoError(t, err)
	return cert
}

// UserKubeconfig writes a kubeconfig for user (in groups) with a new host client
// certificate, whose server is server and which trusts the host CA: what a user gets for
// the host, cluster-apiserver or either proxy path.
func UserKubeconfig(t testing.TB, env *localenv.Env, server, user string, groups ...string) string {
	t.Helper()
	issued, err := env.IssueClientCert("host", user, groups...)
	require.NoError(t, err)
	cfg, err := clientcmd.LoadFromFile(issued)
	require.NoError(t, err)
	for _, c := range cfg.Clusters {
		c.Server = server
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

// TokenKubeconfig writes a kubeconfig for server, trusting caFile, whose user holds token
// alone: no client certificate rides along (with one, the certificate would win).
func TokenKubeconfig(t testing.TB, server, caFile, token string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: caFile}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "c"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

// FreePort is a port on 127.0.0.1 for a component a test starts itself, from
// localenv.FreePort: never one of an environment's ports, nor one the kernel may hand to
// the next outgoing connection before the component binds it.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := localenv.FreePort()
	require.NoError(t, err)
	return port
}
