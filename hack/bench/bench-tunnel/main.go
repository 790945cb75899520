// Command bench-tunnel measures the agent tunnel where the tunnel is the limit: a fast
// local TLS backend (200 B and 8 MiB bodies) reached by four routes, each carrying the
// same raw TCP streams (the client's TLS, HTTP/1.1 or HTTP/2, goes end to end to the
// backend), all in one run, on loopback. Route ids, which --routes and the tables use:
//
//	direct        straight to the backend
//	ours          through our tunnel (tower proxy + agent, pkg/tunnel)
//	remotedialer  through github.com/rancher/remotedialer v0.6.1 (the tunnel of Rancher
//	              and Clusternet)
//	tls-hop       a yardstick: a bare TLS hop per stream, the plainest encrypted relay (it
//	              multiplexes nothing)
//
// It also measures GET latency beside one stalled 100 MB stream, and the tower proxy's
// memory per idle agent (a tower proxy in a process of its own, N agents connected).
// The user-facing half (kube-apiserver behind the tunnel) is bench-proxy --member=member2;
// `make bench-tunnel` runs both.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"kubesphere.io/multicluster/hack/bench/internal/bench"
)

// options are the command's flags.
type options struct {
	small, rounds, clients, big, stallGets, idle int
	stallTimeout                                 time.Duration
	routes, protocols, agentPid, cpuProfile      string
	serveProxy                                   bool
}

func parseFlags() *options {
	o := &options{}
	flag.IntVar(&o.small, "small", 20000, "Small GETs per route and protocol, split over the rounds.")
	flag.IntVar(&o.rounds, "rounds", 5, "Rounds that interleave the routes.")
	flag.IntVar(&o.clients, "clients", 8, "Concurrent clients of the small GETs.")
	flag.IntVar(&o.big, "big", 200, "8 MiB downloads per route and protocol (4 at a time), split over the rounds.")
	flag.IntVar(&o.stallGets, "stall-gets", 5000, "GETs measured without and with a stalled stream beside them, each, split over the rounds.")
	flag.DurationVar(&o.stallTimeout, "stall-timeout", 30*time.Second, "A download that takes longer counts as stalled.")
	routesUsage := "Measure only these routes' rows (ids, comma-separated: " + strings.Join(routeIDs, ", ") + ") and skip the rest: for quick comparisons. Empty: every route, and the rest of the run."
	flag.StringVar(&o.routes, "routes", "", routesUsage)
	flag.StringVar(&o.routes, "only", "", "Old name of --routes, still accepted.")
	flag.StringVar(&o.protocols, "protocols", "HTTP/1.1,HTTP/2", "The client protocols measured, comma-separated.")
	flag.IntVar(&o.idle, "idle-agents", 1000, "Idle agents connected to one tower proxy for the memory figure.")
	flag.StringVar(&o.agentPid, "agent-pid-file", "_output/local/pids/member2-tower-agent.pid", "Pid file of a running tower agent whose RSS is reported (make local-up's member2).")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "Write a CPU profile of the measurements to this file.")
	flag.BoolVar(&o.serveProxy, "serve-proxy", false, "Internal: run a tower proxy for the idle-agent figure until stdin closes.")
	flag.Parse()
	return o
}

func main() {
	o := parseFlags()
	protos := strings.Split(o.protocols, ",")
	for _, p := range protos {
		if p != "HTTP/1.1" && p != "HTTP/2" {
			check(fmt.Errorf("--protocols: %q is neither HTTP/1.1 nor HTTP/2", p))
		}
	}
	if o.stallGets < o.rounds {
		check(fmt.Errorf("--stall-gets must be at least --rounds (%d), not %d", o.rounds, o.stallGets))
	}
	picked, err := bench.ParseRoutes(o.routes, routeIDs, nil)
	check(err)
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	silenceRemotedialer()
	raiseFileLimit()
	if o.serveProxy {
		runProxy()
		return
	}

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	backend := newBackend()
	defer backend.Close()
	routes, closeRoutes := newRoutes(backend)
	defer closeRoutes()
	fmt.Printf("backend %s; %d small GETs x %d clients and %d x 8 MiB (4 at a time) per row, over %d interleaved rounds\n\n",
		backend.URL, o.small, o.clients, o.big, o.rounds)
	t := measureThroughput(o, backend, routes, protos, picked)
	t.printRows(routes, protos, o.stallTimeout)
	if picked != nil {
		pprof.StopCPUProfile()
		os.Exit(0)
	}
	t.printRatios(protos)

	fmt.Println()
	measureStall(o, backend, routes)

	if o.idle > 0 {
		perAgent, total, err := idleAgents(o.idle)
		if err != nil {
			fmt.Printf("idle agents: %v\n", err)
		} else {
			fmt.Printf("%d idle agents on one tower proxy: its RSS grew %.1f MiB, %.1f KiB per agent\n", o.idle, float64(total)/(1<<20), perAgent/1024)
		}
	}
	if rss, err := rssOfPidFile(o.agentPid); err == nil {
		hwm, _ := statusOfPidFile(o.agentPid, "VmHWM:")
		fmt.Printf("tower agent of make local-up (%s): RSS %.1f MiB now, %.1f MiB at its peak\n", o.agentPid, float64(rss)/(1<<20), float64(hwm)/(1<<20))
	} else {
		fmt.Printf("tower agent RSS: not measured (%v; run make local-up)\n", err)
	}
	// Not the deferred closes: a stalled remotedialer connection blocks its Close forever.
	os.Exit(0)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-tunnel:", err)
		os.Exit(1)
	}
}
