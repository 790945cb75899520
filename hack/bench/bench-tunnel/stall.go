package main

import (
	"fmt"
	"net/http/httptest"
	"time"

	"kubesphere.io/multicluster/hack/bench/internal/bench"
)

// measureStall prints GET latency through our tunnel without and beside one stalled
// stream. Rounds alternate without and with it, so that the machine's drift falls on both
// alike (a p99 of one block after another moved by half from run to run).
func measureStall(o *options, backend *httptest.Server, routes []route) {
	c := client(backend, "HTTP/1.1", routeByID(routes, routeOurs).dial)
	var without, with []time.Duration
	for round := 0; round < o.rounds; round++ {
		without = append(without, latencies(c, backend.URL, o.stallGets/o.rounds)...)
		stop := stallOne(c, backend.URL)
		with = append(with, latencies(c, backend.URL, o.stallGets/o.rounds)...)
		stop()
	}
	fmt.Printf("GET p99 through our tunnel (%d GETs each, in %d rounds): %s alone, %s beside a stalled 100 MB stream (%.2fx); p50 %s and %s\n",
		len(without), o.rounds, bench.Ms(p(without, 99)), bench.Ms(p(with, 99)), float64(p(with, 99))/float64(p(without, 99)), bench.Ms(p(without, 50)), bench.Ms(p(with, 50)))
}
