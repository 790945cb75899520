package localenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"kubesphere.io/multicluster/artifacts"
)

// stopOrder stops clients before the servers they use; unknown components go first.
var stopOrder = map[string]int{
	"cluster-apiserver":       0,
	"kwok":                    1,
	"kube-scheduler":          2,
	"kube-controller-manager": 2,
	"kube-apiserver":          3,
	"etcd":                    4,
}

// start runs one component with its log in logs/<id>.log and its pid in pids/<id>.pid,
// where id is <cluster>-<component>.
func (e *Env) start(cluster, component, binary string, args ...string) error {
	return e.startWithEnv(nil, cluster, component, binary, args...)
}

// installedGOMAXPROCS is the environment that gives a component the scheduler threads
// its CPU limit gives it when installed from artifacts/.
func installedGOMAXPROCS() []string {
	return []string{"GOMAXPROCS=" + strconv.Itoa(artifacts.GOMAXPROCS)}
}

// startWithEnv is start with env (KEY=value) added to this process's environment.
func (e *Env) startWithEnv(env []string, cluster, component, binary string, args ...string) error {
	id := cluster + "-" + component
	logFile, err := os.OpenFile(e.LogFile(id), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	command := binary
	if len(env) > 0 {
		command = strings.Join(env, " ") + " " + binary
	}
	fmt.Fprintf(logFile, "\n==== %s starting %s %s\n", time.Now().Format(time.RFC3339), command, strings.Join(args, " "))
	cmd := exec.Command(filepath.Join(e.BinDir, binary), args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...) // later entries win
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = e.Dir
	// Its own session: a Ctrl-C in the terminal that ran local-up does not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if !e.Detach {
		// Tests: the component dies with the test binary even if the test crashes.
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	if err := os.WriteFile(e.pidFile(id), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	done := make(chan struct{})
	e.mu.Lock()
	e.exited[cmd.Process.Pid] = done
	e.mu.Unlock()
	// Reap the child so it does not linger as a zombie while we wait for it to stop.
	go func() { _ = cmd.Wait(); close(done) }()
	return nil
}

// Stop stops one component started by this or an earlier run (found by its pid file).
func (e *Env) Stop(id string) error {
	pidFile := e.pidFile(id)
	data, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return fmt.Errorf("%s: bad pid file: %w", pidFile, err)
	}
	if e.ours(pid) {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		if !e.waitExit(pid, 20*time.Second) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			e.waitExit(pid, 5*time.Second)
		}
	}
	return os.Remove(pidFile)
}

// Kill ends one component with SIGKILL, as a crash or an OOM kill would: it finishes
// nothing it was doing. It returns once the process is gone, and removes its pid file.
func (e *Env) Kill(id string) error {
	pid := e.Pid(id)
	if pid == 0 {
		return fmt.Errorf("%s is not running", id)
	}
	if !e.ours(pid) {
		return fmt.Errorf("%s: pid %d does not run a binary of %s", id, pid, e.BinDir)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s: %w", id, err)
	}
	if !e.waitExit(pid, 10*time.Second) {
		return fmt.Errorf("%s (pid %d) still runs 10s after SIGKILL", id, pid)
	}
	return os.Remove(e.pidFile(id))
}

// ours guards against a recycled pid: the process must run a binary from our BinDir.
func (e *Env) ours(pid int) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return false
	}
	bin, _ := filepath.Abs(e.BinDir)
	return strings.HasPrefix(strings.TrimSuffix(exe, " (deleted)"), bin+string(filepath.Separator))
}

// exitedNow reports whether pid has exited: for a process this Env started, once it has
// been reaped (so its log is complete); for one an earlier run started, once it no
// longer runs our binary.
func (e *Env) exitedNow(pid int) bool {
	e.mu.Lock()
	done := e.exited[pid]
	e.mu.Unlock()
	if done == nil {
		return !e.ours(pid)
	}
	select {
	case <-done:
		return true
	default:
		return false
	}
}

func (e *Env) waitExit(pid int, timeout time.Duration) bool {
	e.mu.Lock()
	done := e.exited[pid]
	e.mu.Unlock()
	deadline := time.After(timeout)
	for {
		if done != nil {
			select {
			case <-done:
				return true
			case <-deadline:
				return false
			}
		}
		if syscall.Kill(pid, 0) != nil {
			return true
		}
		select {
		case <-deadline:
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Down stops every component that has a pid file, clients first.
func (e *Env) Down() error {
	entries, err := os.ReadDir(e.pidsDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var ids []string
	for _, ent := range entries {
		if strings.HasSuffix(ent.Name(), ".pid") {
			ids = append(ids, strings.TrimSuffix(ent.Name(), ".pid"))
		}
	}
	rank := func(id string) int {
		for comp, r := range stopOrder {
			if strings.HasSuffix(id, "-"+comp) {
				return r
			}
		}
		return -1
	}
	// Components of one rank stop in parallel: each takes ~2 s to drain.
	byRank := map[int][]string{}
	for _, id := range ids {
		byRank[rank(id)] = append(byRank[rank(id)], id)
	}
	ranks := make([]int, 0, len(byRank))
	for r := range byRank {
		ranks = append(ranks, r)
	}
	sort.Ints(ranks)
	var (
		errMu sync.Mutex
		errs  []error
	)
	for _, r := range ranks {
		var wg sync.WaitGroup
		for _, id := range byRank[r] {
			wg.Go(func() {
				if err := e.Stop(id); err != nil {
					errMu.Lock()
					errs = append(errs, err)
					errMu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	return errors.Join(errs...)
}

// Running lists the components with a live process.
func (e *Env) Running() []string {
	entries, _ := os.ReadDir(e.pidsDir())
	var ids []string
	for _, ent := range entries {
		id := strings.TrimSuffix(ent.Name(), ".pid")
		data, err := os.ReadFile(e.pidFile(id))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && e.ours(pid) {
			ids = append(ids, id)
		}
	}
	return ids
}

// Pid returns the process id of a running component, or 0.
func (e *Env) Pid(id string) int {
	data, err := os.ReadFile(e.pidFile(id))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// logTail returns the last n lines of a component's log, for failure messages.
func (e *Env) logTail(id string, n int) string {
	data, err := os.ReadFile(e.LogFile(id))
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

func (e *Env) pidsDir() string          { return filepath.Join(e.Dir, "pids") }
func (e *Env) pidFile(id string) string { return filepath.Join(e.pidsDir(), id+".pid") }

// LogFile is the log of a component, by id <cluster>-<component>.
func (e *Env) LogFile(id string) string { return filepath.Join(e.Dir, "logs", id+".log") }

// waitReady polls url until it answers 200, trusting the environment's CAs.
func (e *Env) waitReady(ctx context.Context, id, url string, timeout time.Duration) error {
	client := e.httpClient()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				e.logf("%s is ready", id)
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if pid := e.Pid(id); pid != 0 && e.exitedNow(pid) {
			return fmt.Errorf("%s exited; last lines of %s:\n%s", id, e.LogFile(id), e.logTail(id, 40))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s not ready after %s (%s); last lines of %s:\n%s", id, timeout, last, e.LogFile(id), e.logTail(id, 40))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// httpClient trusts every CA of the environment and sends no client certificate: the
// health endpoints it polls are open to anonymous requests.
func (e *Env) httpClient() *http.Client {
	pool := x509.NewCertPool()
	if e.pki != nil {
		for _, c := range e.pki.cas {
			pool.AddCert(c.cert)
		}
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
}
