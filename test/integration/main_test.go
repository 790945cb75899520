// Package integration tests cluster-apiserver behind a real host kube-apiserver and etcd,
// with the pinned kubectl and the generated typed client as clients. `make
// test-integration` builds the binaries first.
package integration

import (
	"context"
	"crypto/tls"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"kubesphere.io/multicluster/internal/localenv"
)

// env is the host environment every test here shares; the tests do not run in parallel.
var env *localenv.Env

func TestMain(m *testing.M) {
	os.Exit(localenv.RunTests("cluster-apiserver-integration",
		func(e *localenv.Env) { e.WithoutControllers = true }, // these tests write the status themselves
		func(e *localenv.Env) int { env = e; return m.Run() }))
}

// restConfig is the host admin's client configuration (or another kubeconfig's).
func restConfig(t *testing.T, kubeconfig string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: "host"}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func kubectl(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return env.Kubectl(ctx, "host", stdin, args...)
}

func mustKubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := kubectl(t, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustTLS(t *testing.T, cfg *rest.Config) *tls.Config {
	t.Helper()
	tc, err := rest.TLSConfigFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tc
}
