// Command local-env brings the local host + members environment up or down:
//
//	local-env up   [flags]   start (or restart) everything and print how to use it
//	local-env down [flags]   stop exactly the processes an earlier `up` started
//	local-env serve-repo [flags]   serve a Helm chart repository over HTTPS (the environment runs it)
//
// `make local-up` and `make local-down` run it. Everything listens on 127.0.0.1.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"kubesphere.io/multicluster/internal/localenv"
)

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "serve-repo" {
		serveRepo(os.Args[2:])
		return
	}
	if len(os.Args) < 2 || (os.Args[1] != "up" && os.Args[1] != "down") {
		fmt.Fprintln(os.Stderr, "usage: local-env up|down|serve-repo [flags]   (local-env up -h lists the flags)")
		os.Exit(2)
	}
	def := localenv.DefaultPorts()
	fs := flag.NewFlagSet("local-env "+os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", "_output/local", "Directory for certificates, data, logs, pid files and the kubeconfig.")
	binDir := fs.String("bin-dir", "_output/bin", "Directory holding the upstream and project binaries (make tools build).")
	members := fs.String("members", "member1,member2", "Comma-separated member clusters to run (each needs a --<name>-port).")
	etcdPort := fs.Int("etcd-port", def.Etcd, "Client port of the shared etcd (its peer port is the next one).")
	hostPort := fs.Int("host-port", def.Host, "Port of the host kube-apiserver.")
	capPort := fs.Int("cluster-apiserver-port", def.ClusterAPIServer, "Port of cluster-apiserver.")
	m1 := fs.Int("member1-port", def.Members["member1"], "Port of member1's kube-apiserver; its kwok kubelet takes the next port.")
	m2 := fs.Int("member2-port", def.Members["member2"], "Port of member2's kube-apiserver; its kwok kubelet takes the next port.")
	agents := fs.String("agent-members", "member2", "Comma-separated members joined by agent (a tower agent process dials the tower proxies); the others are Direct.")
	registerHost := fs.Bool("register-host", true, "Register the host as a Cluster of its own (\"host\", label cluster-role.kubesphere.io/host).")
	tower1 := fs.Int("tower-proxy-port", def.TowerProxies[0], "Port of the first tower proxy replica; the second takes the next port.")
	appStoreRepos := fs.Bool("app-store-repos", true, "Also run the App Store's sources: an HTTPS Helm repository of test/testdata/charts (--chart-repo-port) and an OCI registry with the charts pushed (--registry-port).")
	chartRepoPort := fs.Int("chart-repo-port", def.ChartRepo, "Port of the App Store's HTTPS chart repository.")
	registryPort := fs.Int("registry-port", def.Registry, "Port of the App Store's OCI registry.")
	_ = fs.Parse(os.Args[2:])

	names := strings.FieldsFunc(*members, func(r rune) bool { return r == ',' })
	ports := localenv.Ports{Etcd: *etcdPort, EtcdPeer: *etcdPort + 1, Host: *hostPort, ClusterAPIServer: *capPort,
		Members: map[string]int{"member1": *m1, "member2": *m2}, TowerProxies: []int{*tower1, *tower1 + 1},
		ChartRepo: *chartRepoPort, Registry: *registryPort}
	env, err := localenv.New(*dir, *binDir, ports, names...)
	if err != nil {
		fail(err)
	}
	env.Detach = true
	env.RegisterHost = *registerHost
	env.AppStoreRepos = *appStoreRepos
	env.AgentMembers = strings.FieldsFunc(*agents, func(r rune) bool { return r == ',' })
	start := time.Now()
	env.Log = func(format string, args ...any) {
		fmt.Printf("[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	if os.Args[1] == "down" {
		running := env.Running()
		if err := env.Down(); err != nil {
			fail(err)
		}
		fmt.Printf("stopped %d processes: %s\n", len(running), strings.Join(running, " "))
		return
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := env.Up(ctx); err != nil {
		fail(err)
	}
	printSummary(env, time.Since(start))
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "local-env: %v\n", err)
	os.Exit(1)
}

func printSummary(env *localenv.Env, took time.Duration) {
	rel := func(p string) string {
		if wd, err := os.Getwd(); err == nil {
			if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
				return r
			}
		}
		return p
	}
	running := env.Running()
	sort.Strings(running)
	kc := rel(env.Kubeconfig())
	kubectl := rel(filepath.Join(env.BinDir, "kubectl"))
	fmt.Printf(`
Local environment is up in %s. Running (pid files in %s):
  %s
Endpoints (all 127.0.0.1):
  host kube-apiserver  %s
  cluster-apiserver    %s
`, took.Round(time.Second), rel(filepath.Join(env.Dir, "pids")), strings.Join(running, "\n  "), env.HostURL(), env.ClusterAPIServerURL())
	for _, m := range env.Members {
		fmt.Printf("  %-20s %s\n", m+" kube-apiserver", env.MemberURL(m))
	}
	for i, u := range env.TowerProxyURLs() {
		fmt.Printf("  %-20s %s\n", fmt.Sprintf("tower proxy %d", i+1), u)
	}
	if env.AppStoreRepos {
		fmt.Printf("  %-20s %s (and %s, basic auth)\n", "chart repository", env.ChartRepoURL(), env.PrivateChartRepoURL())
		fmt.Printf("  %-20s %s (login: %s)\n", "registry", env.RegistryURL(), rel(filepath.Join(env.Dir, "appstore", "auth")))
	}
	fmt.Printf(`Logs: %s
Try:
  %[2]s --kubeconfig %[3]s --context host get clusters
  %[2]s --kubeconfig %[3]s --context host explain clusters.spec.connection
  %[2]s --kubeconfig %[3]s --context member1 get nodes
  %[2]s --kubeconfig %[3]s --context member1-via-host get pods -A             (member1 through the host, as the host admin)
  %[2]s --kubeconfig %[3]s --context member1-via-host-developer get pods     (as "developer": proxy rights to member1 only)
Stop everything with: make local-down
`, rel(filepath.Join(env.Dir, "logs")), kubectl, kc)
}
