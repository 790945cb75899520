package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"time"

	"k8s.io/client-go/kubernetes"
)

// result is one route's row of the table.
type result struct {
	p50, p99       [2]time.Duration // at 1 and 8 clients
	mbps           float64
	delivered, exp int64
	watchTime      time.Duration
}

// measurements are the rows, and per route and round its p50 at 1 and 8 clients and its
// LIST MB/s, for the ratios.
type measurements struct {
	results  []result
	perRound [][3][]float64
}

// measure runs the GETs and LISTs in rounds that interleave the routes, then the watches
// route by route.
func measure(ctx context.Context, o *options, cs kubernetes.Interface, routes []route) measurements {
	results := make([]result, len(routes))
	// Rounds interleave the routes (GETs and LISTs in turns) so that drift in the
	// machine's load (other processes, the members' own work) falls on every route alike.
	samples := make([][2][]time.Duration, len(routes))
	var bytes = make([]int64, len(routes))
	var spent = make([]time.Duration, len(routes))
	perRound := make([][3][]float64, len(routes))
	order := rand.New(rand.NewPCG(1, 2)) // the same orders in every run
	for round := 0; round < o.rounds; round++ {
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
			per := o.requests / o.rounds
			for turn := 0; turn*o.chunk < per; turn++ {
				n := min(o.chunk, per-turn*o.chunk)
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
			list(r, listPath, o.listEncoding) // warm-up
		}
		var b = make([]int64, len(routes))
		var d = make([]time.Duration, len(routes))
		for turn := 0; turn < (o.lists+o.rounds-1)/o.rounds; turn++ {
			for _, i := range order.Perm(len(routes)) {
				n, took := list(routes[i], listPath, o.listEncoding)
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
		results[i].delivered, results[i].exp, results[i].watchTime = watchAll(ctx, cs, r, o.watches, o.events)
		fmt.Fprintf(os.Stderr, "measured %s\n", r.id)
	}
	return measurements{results: results, perRound: perRound}
}

func percentiles(all []time.Duration) (p50, p99 time.Duration) {
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return all[len(all)/2], all[len(all)*99/100]
}
