package main

import (
	"fmt"
	"sort"
	"time"

	"kubesphere.io/multicluster/hack/bench/internal/bench"
)

// ratioPairs are the ratios printed, numerator first, when both routes were measured.
var ratioPairs = [][2]string{
	{routeBareHop, routeDirect}, {routeImpersonatingHop, routeBareHop}, {routeClustersPath, routeBareHop},
	{routeClustersPath, routeImpersonatingHop}, {routeHostProxy, routeBareHop},
}

// agentRatioPairs replace ratioPairs for an Agent member: clusters-path and host-proxy
// reach it through the tunnel, so they are compared with tower, not with a hop.
var agentRatioPairs = [][2]string{
	{routeBareHop, routeDirect}, {routeImpersonatingHop, routeBareHop}, {routeImpersonatingHop, routeDirect},
	{routeTower, routeDirect}, {routeTower, routeImpersonatingHop}, {routeClustersPath, routeTower}, {routeHostProxy, routeTower},
}

// printTables prints the route table and the ratios.
func printTables(o *options, routes []route, m measurements, agent bool) {
	fmt.Println("| route | GET p50 1c | GET p99 1c | GET p50 8c | GET p99 8c | LIST MB/s | watch events delivered |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- |")
	for i, r := range routes {
		x := m.results[i]
		fmt.Printf("| %s | %s | %s | %s | %s | %.1f | %d/%d in %s |\n", r.id, bench.Ms(x.p50[0]), bench.Ms(x.p99[0]), bench.Ms(x.p50[1]), bench.Ms(x.p99[1]), x.mbps,
			x.delivered, x.exp, x.watchTime.Round(time.Millisecond))
	}
	fmt.Println()
	fmt.Printf("Ratios: the median over the %d rounds of each round's ratio (in a round the routes take turns of %d GETs and of one LIST, so load that drifts cancels out); in brackets the lowest and highest round, the spread of this machine's pace.\n\n", o.rounds, o.chunk)
	fmt.Println("| ratio | p50 1c | p50 8c | LIST MB/s |")
	fmt.Println("| --- | --- | --- | --- |")
	index := map[string]int{}
	for i, r := range routes {
		index[r.id] = i
	}
	pairs := ratioPairs
	if agent {
		pairs = agentRatioPairs
	}
	for _, rt := range pairs {
		a, okA := index[rt[0]]
		b, okB := index[rt[1]]
		if okA && okB {
			pa, pb := m.perRound[a], m.perRound[b]
			fmt.Printf("| %s / %s | %s | %s | %s |\n", rt[0], rt[1],
				roundRatios(pa[0], pb[0]), roundRatios(pa[1], pb[1]), roundRatios(pa[2], pb[2]))
		}
	}
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
