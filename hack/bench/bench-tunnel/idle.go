package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"kubesphere.io/multicluster/hack/bench/internal/bench"
	"kubesphere.io/multicluster/pkg/agenttoken"
	"kubesphere.io/multicluster/pkg/tunnel"
)

// raiseFileLimit lifts the soft open-files limit to the hard one: a thousand agents need
// two thousand sockets between them.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// runProxy is the child process of the idle-agent figure: a tower proxy that accepts any
// cluster with one token. It prints its URL and CA and serves until stdin closes.
func runProxy() {
	token := os.Getenv("BENCH_TUNNEL_TOKEN")
	hash := agenttoken.Hash(token)
	server := tunnel.NewServer(func(string) (string, bool) { return hash, true }, func(*http.Request) (string, error) {
		return "", errors.New("no dialing here")
	})
	srv := httptest.NewUnstartedServer(server)
	srv.StartTLS()
	bench.Serve(srv)
}

// idleAgents connects n agents (in this process) to a tower proxy in a child process and
// returns the child's RSS growth per agent.
func idleAgents(n int) (perAgent float64, total int64, err error) {
	token, err := agenttoken.New()
	if err != nil {
		return 0, 0, err
	}
	self, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	cmd := exec.Command(self, "--serve-proxy")
	cmd.Env = append(os.Environ(), "BENCH_TUNNEL_TOKEN="+token)
	cmd.Stderr = os.Stderr
	proxyURL, ca, stdin, err := bench.StartChild(cmd, "the tower proxy child")
	if stdin != nil {
		defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	}
	if err != nil {
		return 0, 0, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	tokenFile := filepath.Join(os.TempDir(), fmt.Sprintf("bench-tunnel-idle-%d", os.Getpid()))
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		return 0, 0, err
	}
	defer os.Remove(tokenFile)
	settle := func() int64 {
		time.Sleep(2 * time.Second)
		rss, _ := rssOf(cmd.Process.Pid)
		return rss
	}
	// One agent first, so the baseline includes the server's own warm-up.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	agents := make([]*tunnel.Agent, n+1)
	for i := range agents {
		agents[i] = &tunnel.Agent{Cluster: fmt.Sprintf("idle-%d", i), TokenFile: tokenFile, Servers: []string{proxyURL}, RootCAs: roots,
			Handler: http.NotFoundHandler(), Backoff: tunnel.Backoff{Initial: 100 * time.Millisecond, Max: time.Second}}
	}
	start := func(a *tunnel.Agent) { go func() { _ = a.Run(ctx) }() }
	start(agents[0])
	for !agents[0].Connected() {
		time.Sleep(10 * time.Millisecond)
	}
	before := settle()
	for _, a := range agents[1:] {
		start(a)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		up := 0
		for _, a := range agents[1:] {
			if a.Connected() {
				up++
			}
		}
		if up == n {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("only %d of %d agents connected", up, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	after := settle()
	return float64(after-before) / float64(n), after - before, nil
}

func rssOfPidFile(file string) (int64, error) { return statusOfPidFile(file, "VmRSS:") }

// statusOfPidFile reads a size field of /proc/<pid>/status (VmRSS:, VmHWM:) of the process
// in a pid file.
func statusOfPidFile(file, field string) (int64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, err
	}
	return statusOf(pid, field)
}

// rssOf reads VmRSS of a process.
func rssOf(pid int) (int64, error) { return statusOf(pid, "VmRSS:") }

func statusOf(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
