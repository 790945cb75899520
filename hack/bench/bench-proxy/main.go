// Command bench-proxy measures what the proxy costs against the running local environment
// (make local-up), all routes in one run so that the ratios compare like with like. Routes
// have ids (--routes takes them; the letters in brackets are the names --routes took
// before, still accepted):
//
//	direct            (a) straight to the member's kube-apiserver
//	bare-hop          (b) through a TLS net/http/httputil.ReverseProxy with no auth: the
//	                  floor any proxy hop costs. It runs in a process of its own, as
//	                  cluster-apiserver does, so that both hops pay for the same wake-ups
//	                  between processes, and on as many threads as cluster-apiserver as
//	                  installed (--hop-gomaxprocs).
//	impersonating-hop (i) the same hop with the cluster's own proxy credential (from its
//	                  Secret) impersonating the caller as our proxy does: the floor of any
//	                  proxy that acts as the user, since the member checks each
//	                  impersonated attribute
//	clusters-path     (c) through cluster-apiserver's own /clusters/<member>/ path
//	host-proxy        (d) through the host kube-apiserver's clusters/proxy subresource
//	tower             (t) for an Agent member: through a tower proxy and the agent's
//	                  tunnel, as cluster-apiserver reaches it (its client certificate,
//	                  impersonating the caller), without cluster-apiserver itself. For an
//	                  Agent member, impersonating-hop uses the agent's own credential
//	                  (--agent-kubeconfig): the floor of the agent's hop alone, which tower
//	                  adds a tower proxy to.
//
// Workloads: GET one pod (median and p99 at 1 and 8 concurrent clients), LIST of --pods
// pods (MB/s), and --watches concurrent watches that must each receive every event.
// `make bench-proxy` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	"kubesphere.io/multicluster/artifacts"
	clientset "kubesphere.io/multicluster/generated/clientset/versioned"
)

// options are the command's flags.
type options struct {
	kubeconfig, member, clusterAPIServer   string
	requests, pods, lists, watches, events int
	rounds, chunk                          int
	listEncoding, routes                   string
	towerKubeconfig, towerServers          string
	agentKubeconfig, hopProtocol, serveHop string
	hopMaxProcs                            int
}

func parseFlags() *options {
	o := &options{}
	flag.StringVar(&o.kubeconfig, "kubeconfig", "_output/local/kubeconfig", "Kubeconfig written by make local-up (contexts host and <member>).")
	flag.StringVar(&o.member, "member", "member1", "Member cluster to measure.")
	flag.StringVar(&o.clusterAPIServer, "cluster-apiserver", "https://127.0.0.1:17443", "URL of cluster-apiserver's own port.")
	flag.IntVar(&o.requests, "requests", 2000, "GET requests per client count and route.")
	flag.IntVar(&o.pods, "pods", 5000, "Pods in the LIST workload (created once, scheduling-gated so nothing runs them).")
	flag.IntVar(&o.lists, "lists", 10, "LIST requests per route.")
	flag.StringVar(&o.listEncoding, "list-encoding", "", "Accept-Encoding of the LISTs. Empty leaves it to the client: Go asks for gzip, so the member compresses the list and every hop carries a twentieth of it. \"identity\" makes every hop carry the whole list.")
	flag.IntVar(&o.watches, "watches", 200, "Concurrent watches per route.")
	flag.IntVar(&o.events, "events", 20, "Events each watch must receive.")
	flag.IntVar(&o.rounds, "rounds", 5, "Rounds that interleave the routes; --requests and --lists are split over them.")
	flag.IntVar(&o.chunk, "chunk", 50, "GETs a route runs in one turn before the next route's turn: the smaller, the closer in time the routes' GETs that are compared.")
	flag.StringVar(&o.routes, "routes", "", "Ids of the routes to measure, comma-separated ("+strings.Join(routeIDs, ", ")+"; the ratios need them all). "+
		"Default: every route but tower for a Direct member, every route for an Agent member. "+
		"The letters --routes took before are still accepted (--routes=abitcd: a direct, b bare-hop, i impersonating-hop, t tower, c clusters-path, d host-proxy).")
	flag.StringVar(&o.towerKubeconfig, "tower-kubeconfig", "_output/local/pki/host-cluster-apiserver.kubeconfig", "Agent member: the host credential that opens streams through the tower proxies (cluster-apiserver's).")
	flag.StringVar(&o.towerServers, "tower-proxy-servers", "https://127.0.0.1:18443,https://127.0.0.1:18444", "Agent member: the tower proxy URLs.")
	flag.StringVar(&o.agentKubeconfig, "agent-kubeconfig", "_output/local/pki/{member}-cluster-proxy.kubeconfig", "Agent member: the agent's credential toward its API server, for route impersonating-hop; {member} is replaced by --member.")
	flag.StringVar(&o.hopProtocol, "hop-protocol", "", "Protocol of the bare hops (bare-hop and impersonating-hop) on both sides, HTTP/2 or HTTP/1.1. Default: HTTP/2 for a Direct member, as client-go and our proxy speak it; HTTP/1.1 for an Agent member, as the agent speaks it on both sides.")
	flag.IntVar(&o.hopMaxProcs, "hop-gomaxprocs", -1, fmt.Sprintf("GOMAXPROCS of the bare hops' processes. -1: as many as cluster-apiserver runs with as installed (%d, the manifests' CPU limits), so that a hop and our proxy compete on the same terms; 0: Go's default (this machine's CPUs).", artifacts.GOMAXPROCS))
	flag.StringVar(&o.serveHop, "serve-hop", "", "Internal: serve the bare hop (\"bare\" or \"impersonating\") in this process until stdin closes.")
	flag.Parse()
	// Zero would divide by zero or take turns of nothing forever.
	for name, v := range map[string]int{"requests": o.requests, "rounds": o.rounds, "chunk": o.chunk, "lists": o.lists} {
		if v < 1 {
			check(fmt.Errorf("--%s must be at least 1, not %d", name, v))
		}
	}
	if o.hopMaxProcs < 0 {
		o.hopMaxProcs = artifacts.GOMAXPROCS
	}
	if o.hopProtocol != "" && o.hopProtocol != "HTTP/2" && o.hopProtocol != "HTTP/1.1" {
		check(fmt.Errorf("--hop-protocol must be HTTP/2 or HTTP/1.1, not %q", o.hopProtocol))
	}
	return o
}

func main() {
	o := parseFlags()
	picked, err := parseRoutes(o.routes)
	check(err)
	ctx := context.Background()
	direct := restConfig(o.kubeconfig, o.member, "")
	host := restConfig(o.kubeconfig, "host", "")
	if o.serveHop != "" {
		runHop(ctx, o.serveHop, o.hopProtocol == "HTTP/1.1", direct, host, o.member, strings.ReplaceAll(o.agentKubeconfig, "{member}", o.member))
		return
	}
	cluster, err := clientset.NewForConfigOrDie(host).ClustersV1alpha1().Clusters().Get(ctx, o.member, metav1.GetOptions{})
	check(err)
	agent := cluster.Spec.Connection.Type == v1alpha1.ConnectionAgent
	if picked == nil {
		picked = defaultRoutes(agent)
	}
	if o.hopProtocol == "" {
		o.hopProtocol = "HTTP/2"
		if agent {
			o.hopProtocol = "HTTP/1.1"
		}
	}
	routes := newRoutes(ctx, o, direct, host, agent, picked)

	cs := kubernetes.NewForConfigOrDie(direct)
	check(ensurePods(ctx, cs, "bench-list", o.pods))
	check(ensurePods(ctx, cs, "bench-get", 1))

	enc := o.listEncoding
	if enc == "" {
		enc = "the client's (gzip)"
	}
	hopThreads := "Go's default threads"
	if o.hopMaxProcs > 0 {
		hopThreads = fmt.Sprintf("GOMAXPROCS=%d", o.hopMaxProcs)
	}
	fmt.Printf("member %s, %d GETs per row in turns of %d, LIST of %d pods x %d (Accept-Encoding %s), %d watches x %d events, bare hops over %s with %s\n\n", o.member, o.requests, o.chunk, o.pods, o.lists, enc, o.watches, o.events, o.hopProtocol, hopThreads)
	m := measure(ctx, o, cs, routes)
	printTables(o, routes, m, agent)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-proxy:", err)
		os.Exit(1)
	}
}
