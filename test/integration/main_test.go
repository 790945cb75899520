// Package integration tests cluster-apiserver behind a real host kube-apiserver and etcd,
// with the pinned kubectl and the generated typed client as clients. `make
// test-integration` builds the binaries first.
package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"kubesphere.io/multicluster/internal/localenv"
)

// env is the host environment every test here shares; the tests do not run in parallel.
var env *localenv.Env

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := filepath.Abs("../..")
	if err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "cluster-apiserver-integration-")
	if err != nil {
		panic(err)
	}
	ports, err := localenv.FreePorts()
	if err != nil {
		panic(err)
	}
	env, err = localenv.New(dir, filepath.Join(root, "_output", "bin"), ports)
	if err != nil {
		panic(err)
	}
	env.WithoutControllers = true // these tests write the status themselves
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	if err := env.Up(ctx); err != nil {
		// Not a skip: without the environment nothing here is tested.
		fmt.Fprintf(os.Stderr, "integration environment did not come up (logs in %s): %v\n", dir, err)
		return 1
	}
	fmt.Printf("integration environment up in %s (dir %s)\n", time.Since(start).Round(time.Millisecond), dir)
	code := m.Run()
	if err := env.Down(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	if code == 0 {
		os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "logs kept in %s\n", filepath.Join(dir, "logs"))
	}
	return code
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
