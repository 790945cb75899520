// Command bench-proxy measures what the proxy costs against the running local environment
// (make local-up), all routes in one run so that the ratios compare like with like:
//
//	(a) direct       straight to the member's kube-apiserver
//	(b) bare hop     through a TLS net/http/httputil.ReverseProxy with no auth: the floor
//	                 any proxy hop costs. It runs in a process of its own, as cluster-apiserver
//	                 does, so that both hops pay for the same wake-ups between processes, and
//	                 on as many threads as cluster-apiserver as installed (--hop-gomaxprocs).
//	(i) bare hop + impersonation
//	                 the same hop with the cluster's own proxy credential (from its Secret)
//	                 impersonating the caller as our proxy does: the floor of any proxy that
//	                 acts as the user, since the member checks each impersonated attribute
//	(c) /clusters/   through cluster-apiserver's own /clusters/<member>/ path
//	(d) via host     through the host kube-apiserver's clusters/proxy subresource
//	(t) tunnel       for an Agent member: through a tower proxy and the agent's tunnel,
//	                 as cluster-apiserver reaches it (its client certificate, impersonating
//	                 the caller), without cluster-apiserver itself. For an Agent member,
//	                 (i) uses the agent's own credential (--agent-kubeconfig): the floor of
//	                 the agent's hop alone, which (t) adds a tower proxy to.
//
// Workloads: GET one pod (median and p99 at 1 and 8 concurrent clients), LIST of --pods
// pods (MB/s), and --watches concurrent watches that must each receive every event.
// `make bench-proxy` runs it.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	"kubesphere.io/multicluster/artifacts"
	clientset "kubesphere.io/multicluster/generated/clientset/versioned"
	"kubesphere.io/multicluster/pkg/tunnel"
)

type route struct {
	name   string
	client *http.Client
	base   string // URL prefix of the member's API
}

func main() {
	kubeconfig := flag.String("kubeconfig", "_output/local/kubeconfig", "Kubeconfig written by make local-up (contexts host and <member>).")
	member := flag.String("member", "member1", "Member cluster to measure.")
	clusterAPIServer := flag.String("cluster-apiserver", "https://127.0.0.1:17443", "URL of cluster-apiserver's own port.")
	requests := flag.Int("requests", 2000, "GET requests per client count and route.")
	pods := flag.Int("pods", 5000, "Pods in the LIST workload (created once, scheduling-gated so nothing runs them).")
	lists := flag.Int("lists", 10, "LIST requests per route.")
	listEncoding := flag.String("list-encoding", "", "Accept-Encoding of the LISTs. Empty leaves it to the client: Go asks for gzip, so the member compresses the list and every hop carries a twentieth of it. \"identity\" makes every hop carry the whole list.")
	watches := flag.Int("watches", 200, "Concurrent watches per route.")
	events := flag.Int("events", 20, "Events each watch must receive.")
	rounds := flag.Int("rounds", 5, "Rounds that interleave the routes; --requests and --lists are split over them.")
	chunk := flag.Int("chunk", 50, "GETs a route runs in one turn before the next route's turn: the smaller, the closer in time the routes' GETs that are compared.")
	only := flag.String("routes", "", "Letters of the routes to measure (the ratios need them all). Default: abicd for a Direct member, abitcd for an Agent member.")
	towerKubeconfig := flag.String("tower-kubeconfig", "_output/local/pki/host-cluster-apiserver.kubeconfig", "Agent member: the host credential that opens streams through the tower proxies (cluster-apiserver's).")
	towerServers := flag.String("tower-proxy-servers", "https://127.0.0.1:18443,https://127.0.0.1:18444", "Agent member: the tower proxy URLs.")
	agentKubeconfig := flag.String("agent-kubeconfig", "_output/local/pki/{member}-cluster-proxy.kubeconfig", "Agent member: the agent's credential toward its API server, for route (i); {member} is replaced by --member.")
	hopProtocol := flag.String("hop-protocol", "", "Protocol of the bare hops (b) and (i) on both sides, HTTP/2 or HTTP/1.1. Default: HTTP/2 for a Direct member, as client-go and our proxy speak it; HTTP/1.1 for an Agent member, as the agent speaks it on both sides.")
	hopMaxProcs := flag.Int("hop-gomaxprocs", -1, "GOMAXPROCS of the bare hops' processes. -1: as many as cluster-apiserver runs with as installed (its CPU limit, artifacts/base), so that a hop and our proxy compete on the same terms; 0: Go's default (this machine's CPUs).")
	serveHop := flag.String("serve-hop", "", "Internal: serve the bare hop (\"bare\" or \"impersonating\") in this process until stdin closes.")
	flag.Parse()
	// Zero would divide by zero or take turns of nothing forever.
	for name, v := range map[string]int{"requests": *requests, "rounds": *rounds, "chunk": *chunk, "lists": *lists} {
		if v < 1 {
			check(fmt.Errorf("--%s must be at least 1, not %d", name, v))
		}
	}

	if *hopMaxProcs < 0 {
		var err error
		*hopMaxProcs, err = artifacts.ClusterAPIServerGOMAXPROCS()
		check(err)
	}
	if *hopProtocol != "" && *hopProtocol != "HTTP/2" && *hopProtocol != "HTTP/1.1" {
		check(fmt.Errorf("--hop-protocol must be HTTP/2 or HTTP/1.1, not %q", *hopProtocol))
	}

	ctx := context.Background()
	direct := restConfig(*kubeconfig, *member, "")
	host := restConfig(*kubeconfig, "host", "")
	if *serveHop != "" {
		runHop(ctx, *serveHop, *hopProtocol == "HTTP/1.1", direct, host, *member, strings.ReplaceAll(*agentKubeconfig, "{member}", *member))
		return
	}
	cluster, err := clientset.NewForConfigOrDie(host).ClustersV1alpha1().Clusters().Get(ctx, *member, metav1.GetOptions{})
	check(err)
	agent := cluster.Spec.Connection.Type == v1alpha1.ConnectionAgent
	if *only == "" {
		*only = "abicd"
		if agent {
			*only = "abitcd"
		}
	}
	if *hopProtocol == "" {
		*hopProtocol = "HTTP/2"
		if agent {
			*hopProtocol = "HTTP/1.1"
		}
	}
	routes := []route{{"(a) direct", httpClient(direct), direct.Host}}
	// Hops run in child processes: only those asked for.
	if strings.ContainsRune(*only, 'b') {
		hopURL, hopClient := startHop("bare", *hopProtocol, *hopMaxProcs)
		routes = append(routes, route{"(b) bare hop", hopClient, hopURL})
	}
	if strings.ContainsRune(*only, 'i') {
		ihopURL, ihopClient := startHop("impersonating", *hopProtocol, *hopMaxProcs)
		routes = append(routes, route{"(i) bare hop + impersonation", ihopClient, ihopURL})
	}
	if agent {
		routes = append(routes, route{"(t) tunnel", tunnelClient(ctx, host, *member, *towerKubeconfig, *towerServers), "http://" + *member})
	}
	routes = append(routes,
		route{"(c) /clusters/", httpClient(host), strings.TrimSuffix(*clusterAPIServer, "/") + "/clusters/" + *member},
		route{"(d) via host", httpClient(host), host.Host + "/apis/clusters.kubesphere.io/v1alpha1/clusters/" + *member + "/proxy"},
	)

	var picked []route
	for _, r := range routes {
		if strings.ContainsRune(*only, rune(r.name[1])) {
			picked = append(picked, r)
		}
	}
	routes = picked

	cs := kubernetes.NewForConfigOrDie(direct)
	check(ensurePods(ctx, cs, "bench-list", *pods))
	check(ensurePods(ctx, cs, "bench-get", 1))
	getPath := "/api/v1/namespaces/bench-get/pods/pod-0"
	listPath := "/api/v1/namespaces/bench-list/pods"

	enc := *listEncoding
	if enc == "" {
		enc = "the client's (gzip)"
	}
	hopThreads := "Go's default threads"
	if *hopMaxProcs > 0 {
		hopThreads = fmt.Sprintf("GOMAXPROCS=%d", *hopMaxProcs)
	}
	fmt.Printf("member %s, %d GETs per row in turns of %d, LIST of %d pods x %d (Accept-Encoding %s), %d watches x %d events, bare hops over %s with %s\n\n", *member, *requests, *chunk, *pods, *lists, enc, *watches, *events, *hopProtocol, hopThreads)
	type result struct {
		p50, p99       [2]time.Duration // at 1 and 8 clients
		mbps           float64
		delivered, exp int64
		watchTime      time.Duration
	}
	results := make([]result, len(routes))
	// Rounds interleave the routes (GETs and LISTs in turns) so that drift in the
	// machine's load (other processes, the members' own work) falls on every route alike.
	samples := make([][2][]time.Duration, len(routes))
	var bytes = make([]int64, len(routes))
	var spent = make([]time.Duration, len(routes))
	// Per round: each route's p50 at 1 and 8 clients and its LIST MB/s, for the ratios.
	perRound := make([][3][]float64, len(routes))
	order := rand.New(rand.NewPCG(1, 2)) // the same orders in every run
	for round := 0; round < *rounds; round++ {
		for j, clients := range []int{1, 8} {
			// GETs go in turns of --chunk per route, a turn of every route after another, so
			// that the machine's pace, which drifts within seconds here, falls on every
			// route alike: each route's median in a round is paired with the others' from
			// the same seconds. Each turn runs the routes in a fresh random order: rotating
			// one order kept every route behind the same neighbour, and a route's turn can
			// pay for what the one before it left behind (the member's GC, its caches).
			got := make([][]time.Duration, len(routes))
			for _, r := range routes {
				warm(r, getPath)
			}
			per := *requests / *rounds
			for turn := 0; turn*(*chunk) < per; turn++ {
				n := min(*chunk, per-turn*(*chunk))
				for _, i := range order.Perm(len(routes)) {
					got[i] = append(got[i], latency(routes[i], getPath, clients, n)...)
				}
			}
			for i := range routes {
				samples[i][j] = append(samples[i][j], got[i]...)
				p50, _ := percentiles(got[i])
				perRound[i][j] = append(perRound[i][j], float64(p50))
			}
		}
		// LISTs take turns too, one LIST of every route per turn: in blocks of a route's
		// LISTs, a route's MB/s was paired with the others' from other seconds.
		for _, r := range routes {
			list(r, listPath, *listEncoding) // warm-up
		}
		var b = make([]int64, len(routes))
		var d = make([]time.Duration, len(routes))
		for turn := 0; turn < (*lists+*rounds-1) / *rounds; turn++ {
			for _, i := range order.Perm(len(routes)) {
				n, took := list(routes[i], listPath, *listEncoding)
				b[i] += n
				d[i] += took
			}
		}
		for i := range routes {
			bytes[i] += b[i]
			spent[i] += d[i]
			perRound[i][2] = append(perRound[i][2], float64(b[i])/d[i].Seconds())
		}
	}
	for i, r := range routes {
		for j := range samples[i] {
			results[i].p50[j], results[i].p99[j] = percentiles(samples[i][j])
		}
		results[i].mbps = float64(bytes[i]) / 1e6 / spent[i].Seconds()
		results[i].delivered, results[i].exp, results[i].watchTime = watchAll(ctx, cs, r, *watches, *events)
		fmt.Fprintf(os.Stderr, "measured %s\n", r.name)
	}

	fmt.Println("| route | GET p50 1c | GET p99 1c | GET p50 8c | GET p99 8c | LIST MB/s | watch events delivered |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- |")
	for i, r := range routes {
		x := results[i]
		fmt.Printf("| %s | %s | %s | %s | %s | %.1f | %d/%d in %s |\n", r.name, ms(x.p50[0]), ms(x.p99[0]), ms(x.p50[1]), ms(x.p99[1]), x.mbps,
			x.delivered, x.exp, x.watchTime.Round(time.Millisecond))
	}
	fmt.Println()
	fmt.Printf("Ratios: the median over the %d rounds of each round's ratio (in a round the routes take turns of %d GETs and of one LIST, so load that drifts cancels out); in brackets the lowest and highest round, the spread of this machine's pace.\n\n", *rounds, *chunk)
	fmt.Println("| ratio | p50 1c | p50 8c | LIST MB/s |")
	fmt.Println("| --- | --- | --- | --- |")
	ratio := func(name string, a, b int) {
		fmt.Printf("| %s | %s | %s | %s |\n", name,
			roundRatios(perRound[a][0], perRound[b][0]), roundRatios(perRound[a][1], perRound[b][1]), roundRatios(perRound[a][2], perRound[b][2]))
	}
	index := map[byte]int{}
	for i, r := range routes {
		index[r.name[1]] = i
	}
	pairs := [][2]byte{{'b', 'a'}, {'i', 'b'}, {'c', 'b'}, {'c', 'i'}, {'d', 'b'}}
	if agent {
		// (c) and (d) reach an Agent member through the tunnel: compared with (t), not with a hop.
		pairs = [][2]byte{{'b', 'a'}, {'i', 'b'}, {'i', 'a'}, {'t', 'a'}, {'t', 'i'}, {'c', 't'}, {'d', 't'}}
	}
	for _, rt := range pairs {
		a, okA := index[rt[0]]
		b, okB := index[rt[1]]
		if okA && okB {
			ratio(routes[a].name+" / "+routes[b].name, a, b)
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-proxy:", err)
		os.Exit(1)
	}
}

func restConfig(kubeconfig, context, server string) *rest.Config {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	check(err)
	if server != "" {
		cfg.Host = server
	}
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit: measure the servers
	return cfg
}

func httpClient(cfg *rest.Config) *http.Client {
	c, err := rest.HTTPClientFor(cfg)
	check(err)
	return c
}

// runHop serves a bare hop, the floor of any proxy hop: TLS in, a pooled keep-alive
// transport out with the member's credential (impersonating the host user for kind
// "impersonating"), no authentication or authorization. It prints its URL and CA on one
// line each and serves until stdin closes.
func runHop(ctx context.Context, kind string, http1 bool, direct, host *rest.Config, member, agentKubeconfig string) {
	cfg := direct
	if kind == "impersonating" {
		var err error
		cfg, err = impersonating(ctx, host, member, agentKubeconfig)
		check(err)
	}
	if http1 {
		cfg = rest.CopyConfig(cfg)
		cfg.NextProtos = []string{"http/1.1"}
	}
	transport, err := rest.TransportFor(cfg)
	check(err)
	target, err := url.Parse(cfg.Host)
	check(err)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = transport
	srv := httptest.NewUnstartedServer(rp)
	srv.EnableHTTP2 = !http1
	srv.StartTLS()
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	fmt.Printf("%s\n%s\n", srv.URL, base64.StdEncoding.EncodeToString(ca))
	_, _ = io.Copy(io.Discard, os.Stdin)
}

var hopStdins []io.WriteCloser

// startHop runs a hop of the given kind in a child process (this program with
// --serve-hop) on maxProcs threads (0: Go's default) and returns its URL and a client for
// it. The child ends with this process.
func startHop(kind, protocol string, maxProcs int) (string, *http.Client) {
	self, err := os.Executable()
	check(err)
	// The last of a repeated flag wins: the protocol as this process resolved it.
	cmd := exec.Command(self, append(append([]string{"--serve-hop=" + kind}, os.Args[1:]...), "--hop-protocol="+protocol)...)
	cmd.Stderr = os.Stderr
	if maxProcs > 0 {
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(maxProcs))
	}
	stdin, err := cmd.StdinPipe()
	check(err)
	hopStdins = append(hopStdins, stdin) // kept open (and out of the collector's reach) while this process lives
	stdout, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	lines := bufio.NewScanner(stdout)
	var got []string
	for len(got) < 2 && lines.Scan() {
		got = append(got, lines.Text())
	}
	if len(got) < 2 {
		check(fmt.Errorf("the %s hop did not start", kind))
	}
	ca, err := base64.StdEncoding.DecodeString(got[1])
	check(err)
	cfg := &rest.Config{Host: got[0], TLSClientConfig: rest.TLSClientConfig{CAData: ca}}
	if protocol == "HTTP/1.1" {
		cfg.NextProtos = []string{"http/1.1"}
	}
	return got[0], httpClient(cfg)
}

// hostUser is who the host says the caller of host is, as pkg/proxy impersonates it:
// groups without system:authenticated, UID and extra.
func hostUser(ctx context.Context, host *rest.Config) (rest.ImpersonationConfig, error) {
	review, err := kubernetes.NewForConfigOrDie(host).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return rest.ImpersonationConfig{}, err
	}
	u := review.Status.UserInfo
	imp := rest.ImpersonationConfig{UserName: u.Username, UID: u.UID, Extra: map[string][]string{}}
	for _, g := range u.Groups {
		if g != "system:authenticated" {
			imp.Groups = append(imp.Groups, g)
		}
	}
	for k, v := range u.Extra {
		imp.Extra[k] = v
	}
	return imp, nil
}

// tunnelClient speaks to an Agent member through the tower proxies as cluster-apiserver
// does: streams opened with its credential, the caller impersonated.
func tunnelClient(ctx context.Context, host *rest.Config, member, towerKubeconfig, servers string) *http.Client {
	cred, err := clientcmd.BuildConfigFromFlags("", towerKubeconfig)
	check(err)
	opts := tunnel.DialerOptions{Servers: strings.Split(servers, ","), CAFile: cred.CAFile}
	check(opts.Validate())
	dialer, err := opts.Dialer(cred)
	check(err)
	imp, err := hostUser(ctx, host)
	check(err)
	return httpClient(&rest.Config{Host: "http://" + member, Impersonate: imp, QPS: -1,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) { return dialer.DialCluster(ctx, member) }})
}

// impersonating is the member's configuration as our proxy uses it: the credential of the
// cluster's Secret (for an Agent cluster, the agent's own from agentKubeconfig),
// impersonating the host user of host (groups without system:authenticated, UID and extra,
// as pkg/proxy sends them).
func impersonating(ctx context.Context, host *rest.Config, member, agentKubeconfig string) (*rest.Config, error) {
	cluster, err := clientset.NewForConfigOrDie(host).ClustersV1alpha1().Clusters().Get(ctx, member, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	var cfg *rest.Config
	if cluster.Spec.Connection.Type == v1alpha1.ConnectionAgent {
		if cfg, err = clientcmd.BuildConfigFromFlags("", agentKubeconfig); err != nil {
			return nil, fmt.Errorf("the agent's credential: %w", err)
		}
	} else {
		ref := cluster.Spec.Connection.CredentialsSecretRef
		if ref == nil {
			return nil, fmt.Errorf("cluster %s has no credentials Secret", member)
		}
		hostCS := kubernetes.NewForConfigOrDie(host)
		secret, err := hostCS.CoreV1().Secrets(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if cfg, err = clientcmd.RESTConfigFromKubeConfig(secret.Data["kubeconfig"]); err != nil {
			return nil, fmt.Errorf("secret %s/%s: %w", ref.Namespace, ref.Name, err)
		}
	}
	if cfg.Impersonate, err = hostUser(ctx, host); err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = -1, 0
	return cfg, nil
}

// ensurePods creates n pods in ns once; scheduling gates keep them Pending so that the
// member's scheduler and kwok leave them alone.
func ensurePods(ctx context.Context, cs kubernetes.Interface, ns string, n int) error {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	have, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	if len(have.Items) >= n {
		return nil
	}
	fmt.Fprintf(os.Stderr, "creating %d pods in %s\n", n-len(have.Items), ns)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	next := int64(-1)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := atomic.AddInt64(&next, 1); i < int64(n); i = atomic.AddInt64(&next, 1) {
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Labels: map[string]string{"app": "bench"}},
					Spec: corev1.PodSpec{
						SchedulingGates: []corev1.PodSchedulingGate{{Name: "bench.kubesphere.io/hold"}},
						Containers:      []corev1.Container{{Name: "main", Image: "registry.example/bench:1", Args: []string{"--serve", "--port=8080"}}},
					},
				}
				if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	return nil
}

func get(r route, path string) (int64, error) { return getEncoded(r, path, "") }

// getEncoded is get with an Accept-Encoding, when not empty.
func getEncoded(r route, path, encoding string) (int64, error) {
	req, _ := http.NewRequest(http.MethodGet, r.base+path, nil)
	req.Header.Set("Accept", "application/json")
	if encoding != "" {
		req.Header.Set("Accept-Encoding", encoding)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", path, resp.Status)
	}
	return n, err
}

// warm opens r's connections and fills its caches before its GETs are timed.
func warm(r route, path string) {
	for i := 0; i < 20; i++ {
		_, err := get(r, path)
		check(err)
	}
}

// latency runs total GETs of path split over clients concurrent loops (at least one GET
// each) and returns each one's latency.
func latency(r route, path string, clients, total int) []time.Duration {
	per := max(total/clients, 1)
	all := make([]time.Duration, 0, per*clients)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, per)
			for i := 0; i < per; i++ {
				start := time.Now()
				_, err := get(r, path)
				check(err)
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all
}

// roundRatios gives the median of the rounds' ratios a[k]/b[k] and, in brackets, the
// lowest and highest: how far one round's figure may stray from the median tells whether
// a difference between two runs means anything.
func roundRatios(a, b []float64) string {
	r := make([]float64, len(a))
	for k := range a {
		r[k] = a[k] / b[k]
	}
	sort.Float64s(r)
	median := r[len(r)/2]
	if len(r)%2 == 0 {
		median = (r[len(r)/2-1] + r[len(r)/2]) / 2
	}
	if len(r) == 1 {
		return fmt.Sprintf("%.2fx", median)
	}
	return fmt.Sprintf("%.2fx (%.2f-%.2f)", median, r[0], r[len(r)-1])
}

func percentiles(all []time.Duration) (p50, p99 time.Duration) {
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return all[len(all)/2], all[len(all)*99/100]
}

// list times one LIST through r, with Accept-Encoding encoding when not empty, and returns
// the bytes it read.
func list(r route, path, encoding string) (int64, time.Duration) {
	start := time.Now()
	b, err := getEncoded(r, path, encoding)
	check(err)
	return b, time.Since(start)
}

// watchAll opens n watches on a fresh namespace through r, makes events ConfigMaps, and
// counts the ADDED events the watches receive (every watch must see every one).
func watchAll(ctx context.Context, cs kubernetes.Interface, r route, n, events int) (delivered, expected int64, took time.Duration) {
	ns := fmt.Sprintf("bench-watch-%d", time.Now().UnixNano())
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	check(err)
	defer func() { _ = cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}) }()

	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var got atomic.Int64
	var opened, done sync.WaitGroup
	for i := 0; i < n; i++ {
		opened.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			req, _ := http.NewRequestWithContext(wctx, http.MethodGet, r.base+"/api/v1/namespaces/"+ns+"/configmaps?watch=1&allowWatchBookmarks=true", nil)
			req.Header.Set("Accept", "application/json")
			resp, err := r.client.Do(req)
			opened.Done()
			if err != nil {
				return
			}
			defer resp.Body.Close()
			dec := newEventDecoder(resp.Body)
			mine := 0
			for mine < events {
				typ, err := dec.next()
				if err != nil {
					return
				}
				if typ == "ADDED" {
					mine++
					got.Add(1)
				}
			}
		}()
	}
	opened.Wait()
	time.Sleep(500 * time.Millisecond) // the watches are registered on the member
	start := time.Now()
	for i := 0; i < events; i++ {
		_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}}, metav1.CreateOptions{})
		check(err)
	}
	done.Wait()
	return got.Load(), int64(n * events), time.Since(start)
}

// eventDecoder reads the type of each event of a JSON watch stream.
type eventDecoder struct{ dec *json.Decoder }

func newEventDecoder(r io.Reader) *eventDecoder { return &eventDecoder{json.NewDecoder(r)} }

func (d *eventDecoder) next() (string, error) {
	var e struct {
		Type string `json:"type"`
	}
	err := d.dec.Decode(&e)
	return e.Type, err
}
