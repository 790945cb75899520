// Package appstore tests the App Store against the real local environment: its HTTPS
// chart repository and OCI registry (Env.AppStoreRepos), a real host and
// cluster-apiserver, with kubectl and the helm CLI as the outside clients.
package appstore

import (
	"os"
	"testing"

	"kubesphere.io/multicluster/internal/localenv"
)

// env is the environment every test here shares.
var env *localenv.Env

func TestMain(m *testing.M) {
	os.Exit(localenv.RunTests("appstore",
		func(e *localenv.Env) { e.AppStoreRepos = true; e.WithoutControllers = true },
		func(e *localenv.Env) int { env = e; return m.Run() }))
}
