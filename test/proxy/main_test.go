// Package proxy tests the clusters/proxy subresource and the /clusters/{name}/ path against
// a real host and real members, with the pinned kubectl as the client.
package proxy

import (
	"os"
	"testing"

	"kubesphere.io/multicluster/internal/localenv"
)

var env *localenv.Env

func TestMain(m *testing.M) {
	os.Exit(localenv.RunTests("cluster-proxy-test", func(e *localenv.Env) { e.AgentMembers = []string{"member2"} },
		func(e *localenv.Env) int { env = e; return m.Run() }, "member1", "member2"))
}
