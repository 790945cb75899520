// Package integration tests cluster-apiserver behind a real host kube-apiserver and etcd,
// with the pinned kubectl and the generated typed client as clients. `make
// test-integration` builds the binaries first.
package integration

import (
	"crypto/tls"
	"os"
	"testing"

	"k8s.io/client-go/rest"

	"kubesphere.io/multicluster/internal/localenv"
)

// env is the host environment every test here shares; the tests do not run in parallel.
var env *localenv.Env

func TestMain(m *testing.M) {
	os.Exit(localenv.RunTests("cluster-apiserver-integration",
		func(e *localenv.Env) { e.WithoutControllers = true }, // these tests write the status themselves
		func(e *localenv.Env) int { env = e; return m.Run() }))
}

func mustTLS(t *testing.T, cfg *rest.Config) *tls.Config {
	t.Helper()
	tc, err := rest.TLSConfigFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tc
}
