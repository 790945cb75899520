package localenv

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// Environments of one test process must never share a port, nor get one port twice: a
// port is only bound when its component starts, so a second pick of it probes free.
// Several environments of 40 members make ~500 draws among ~12,000 ports, where repeats
// are near certain unless handed-out ports are remembered.
func TestFreePortsNeverRepeatAPort(t *testing.T) {
	var members []string
	for i := range 40 {
		members = append(members, fmt.Sprintf("member%d", i))
	}
	seen := map[int]string{}
	take := func(port int, what string) {
		if prev, ok := seen[port]; ok {
			t.Fatalf("port %d given to %s and to %s", port, prev, what)
		}
		seen[port] = what
	}
	for env := range 5 {
		p, err := FreePorts(members...)
		require.NoError(t, err)
		for what, port := range map[string]int{"etcd": p.Etcd, "etcd peer": p.EtcdPeer, "host": p.Host,
			"cluster-apiserver": p.ClusterAPIServer, "tower proxy 1": p.TowerProxies[0], "tower proxy 2": p.TowerProxies[1]} {
			take(port, fmt.Sprintf("env %d %s", env, what))
		}
		for _, m := range members {
			take(p.Members[m], fmt.Sprintf("env %d %s", env, m))
			take(p.Members[m]+1, fmt.Sprintf("env %d %s kwok", env, m))
		}
	}
}
