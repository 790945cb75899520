// Package federation tests federation.kubesphere.io against the real local environment:
// a host, cluster-apiserver and members, with kubectl as the client.
package federation

import (
	"os"
	"testing"

	"kubesphere.io/multicluster/internal/localenv"
)

// env is the environment every test here shares.
var env *localenv.Env

func TestMain(m *testing.M) {
	os.Exit(localenv.RunTests("federation",
		func(e *localenv.Env) { e.WithoutControllers = true },
		func(e *localenv.Env) int { env = e; return m.Run() }))
}
