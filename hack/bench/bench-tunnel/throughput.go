package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"time"
)

// key is one row: a protocol and a route id.
type key struct{ proto, route string }

// throughput is each row's req/s and MB/s per round, and the rows that stalled.
type throughput struct {
	rps, mbps map[key][]float64
	stalledAt map[key]bool
}

// measureThroughput runs the small GETs and the big downloads of every picked route (nil:
// all) and protocol. Rounds interleave the routes, so that the machine's drifting load
// falls on all alike; ratios are the median of each round's ratio. A route that stalls
// once is out for the rest of the run.
func measureThroughput(o *options, backend *httptest.Server, routes []route, protos, picked []string) throughput {
	t := throughput{rps: map[key][]float64{}, mbps: map[key][]float64{}, stalledAt: map[key]bool{}}
	clientsOf := map[key]*http.Client{}
	for round := 0; round < o.rounds; round++ {
		for _, proto := range protos {
			for _, r := range routes {
				k := key{proto, r.id}
				if (picked != nil && !slices.Contains(picked, r.id)) || t.stalledAt[k] {
					continue
				}
				c := clientsOf[k]
				if c == nil {
					c = client(backend, proto, r.dial)
					clientsOf[k] = c
					smallRPS(c, backend.URL, 4*o.clients, o.clients) // warm-up: connections and TLS sessions
				}
				// Each phase starts from a collected heap, not the last one's garbage.
				runtime.GC()
				x := smallRPS(c, backend.URL, o.small/o.rounds, o.clients)
				runtime.GC()
				y, stalled := bigMBps(c, backend.URL, max(4, o.big/o.rounds), o.stallTimeout)
				if x == 0 || stalled {
					t.stalledAt[k] = true
				}
				t.rps[k], t.mbps[k] = append(t.rps[k], x), append(t.mbps[k], y)
			}
		}
	}
	return t
}

// printRows prints the table of every measured row's medians.
func (t throughput) printRows(routes []route, protos []string, stallTimeout time.Duration) {
	fmt.Println("| protocol | route | small GETs req/s (median) | 8 MiB MB/s (median) |")
	fmt.Println("| --- | --- | --- | --- |")
	for _, proto := range protos {
		for _, r := range routes {
			k := key{proto, r.id}
			if len(t.rps[k]) == 0 {
				continue
			}
			small, big := fmt.Sprintf("%.0f", median(t.rps[k])), fmt.Sprintf("%.0f", median(t.mbps[k]))
			if t.stalledAt[k] {
				small, big = "failed", fmt.Sprintf("stalled (a request made no progress within %s)", stallTimeout)
			}
			fmt.Printf("| %s | %s | %s | %s |\n", proto, r.id, small, big)
		}
	}
}

// printRatios prints ours against remotedialer and direct, the ceiling of any relay and
// where tls-hop stands.
func (t throughput) printRatios(protos []string) {
	fmt.Println()
	fmt.Println("| protocol | ours / remotedialer req/s | ours / remotedialer MB/s | ours / direct req/s | ours / direct MB/s |")
	fmt.Println("| --- | --- | --- | --- | --- |")
	for _, proto := range protos {
		o, r, d := key{proto, routeOurs}, key{proto, routeRemotedialer}, key{proto, routeDirect}
		vs := func(a, b key, m map[key][]float64) string {
			if t.stalledAt[a] {
				return "n/a (ours stalled)"
			}
			if t.stalledAt[b] {
				return "n/a (" + b.route + " stalled)"
			}
			return fmt.Sprintf("%.2fx", medianRatio(m[a], m[b]))
		}
		fmt.Printf("| %s | %s | %s | %s | %s |\n", proto, vs(o, r, t.rps), vs(o, r, t.mbps), vs(o, d, t.rps), vs(o, d, t.mbps))
	}
	// The ceiling of any relay on this machine: one that cost nothing would move as much as
	// direct does, so ours / remotedialer can be at most direct / remotedialer.
	if d, r := (key{"HTTP/1.1", routeDirect}), (key{"HTTP/1.1", routeRemotedialer}); len(t.rps[r]) > 0 && !t.stalledAt[r] {
		fmt.Printf("\nHTTP/1.1 ceiling (a relay that cost nothing, direct / remotedialer): %.2fx req/s, %.2fx MB/s\n",
			medianRatio(t.rps[d], t.rps[r]), medianRatio(t.mbps[d], t.mbps[r]))
		// What the plainest encrypted relay reaches: a second encryption and an extra TCP
		// hop per byte, as every tunnel pays, and no multiplexing.
		if h := (key{"HTTP/1.1", routeTLSHop}); len(t.rps[h]) > 0 && !t.stalledAt[h] {
			o := key{"HTTP/1.1", routeOurs}
			fmt.Printf("HTTP/1.1 bare TLS hop per stream (tls-hop / remotedialer): %.2fx req/s, %.2fx MB/s; ours / tls-hop: %.2fx req/s, %.2fx MB/s\n",
				medianRatio(t.rps[h], t.rps[r]), medianRatio(t.mbps[h], t.mbps[r]), medianRatio(t.rps[o], t.rps[h]), medianRatio(t.mbps[o], t.mbps[h]))
		}
	}
}
