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
		func(e *localenv.Env) {
			e.AppStoreRepos, e.WithoutControllers = true, true
			// A quota TestUploadReview can reach with a few archives.
			e.ClusterAPIServerArgs = []string{"--app-store-upload-quota=" + uploadQuota}
		},
		func(e *localenv.Env) int { env = e; return m.Run() }))
}
