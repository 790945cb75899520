// Package appinstall tests App Store installs end to end: appstore-controller running Helm
// on real members, member1 Direct and member2 Agent, as the user who asked, with kubectl
// and the helm CLI on the members as the outside view.
package appinstall

import (
	"os"
	"testing"

	"kubesphere.io/multicluster/internal/localenv"
)

// env is the environment every test here shares.
var env *localenv.Env

func TestMain(m *testing.M) {
	os.Exit(localenv.RunTests("appinstall",
		func(e *localenv.Env) {
			e.AppStoreRepos, e.AgentMembers = true, []string{"member2"}
			// A pending revision of a cut-off operation is taken for abandoned soon after
			// its release's timeout (interrupt_test.go), not 2 minutes later.
			e.AppStorePendingGrace = pendingGrace
		},
		func(e *localenv.Env) int { env = e; return m.Run() }, "member1", "member2"))
}
