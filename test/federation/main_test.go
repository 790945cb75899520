// Package federation tests federation.kubesphere.io against the real local environment:
// a host, cluster-apiserver, controller-manager and members (member1 Direct, member2 Agent),
// with kubectl as the client.
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
		func(e *localenv.Env) { e.AgentMembers = []string{"member2"} },
		func(e *localenv.Env) int { env = e; return m.Run() }, "member1", "member2"))
}
