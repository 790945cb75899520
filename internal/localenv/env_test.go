package localenv

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
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

// Parallel test packages are separate processes: a port one has handed out is never
// handed out by another while the first lives. The child holds half of a small range; the
// parent gets exactly the other half, and nothing more.
func TestFreePortsNotSharedAcrossProcesses(t *testing.T) {
	const low, high = 19100, 19110 // ten ports below those drawn normally (20000 up)
	forget := func() {             // this process's own record, so that -count=N starts afresh
		handedOutMu.Lock()
		defer handedOutMu.Unlock()
		for p := low; p < high; p++ {
			delete(handedOut, p)
		}
	}
	forget()
	portRange = [2]int{low, high}
	defer func() { portRange = [2]int{}; forget() }()
	if os.Getenv("LOCALENV_HOLD_PORTS") == "1" {
		for range 5 {
			p, err := freePort()
			if err != nil {
				fmt.Println("error:", err)
				os.Exit(1)
			}
			fmt.Println(p)
		}
		fmt.Println("held")
		_, _ = io.Copy(io.Discard, os.Stdin) // hold until the parent closes stdin
		os.Exit(0)
	}
	child := exec.Command(os.Args[0], "-test.run=^TestFreePortsNotSharedAcrossProcesses$")
	child.Env = append(os.Environ(), "LOCALENV_HOLD_PORTS=1")
	stdin, err := child.StdinPipe()
	require.NoError(t, err)
	out, err := child.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, child.Start())
	defer func() { _ = stdin.Close(); _ = child.Wait() }()
	held := map[int]bool{}
	lines := bufio.NewScanner(out)
	for lines.Scan() && lines.Text() != "held" {
		p, err := strconv.Atoi(lines.Text())
		require.NoError(t, err, "child: %s", lines.Text())
		held[p] = true
	}
	require.Len(t, held, 5)
	mine := map[int]bool{}
	for range 5 {
		p, err := freePort()
		require.NoError(t, err)
		require.False(t, held[p], "port %d handed out by both processes", p)
		mine[p] = true
	}
	require.Len(t, mine, 5)
	_, err = freePort()
	require.Error(t, err, "a sixth port from a range of ten, five of them held by another process")
}
