package main

import (
	"sort"
	"time"
)

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// medianRatio is the median of a[k]/b[k] over the rounds both have.
func medianRatio(a, b []float64) float64 {
	n := min(len(a), len(b))
	r := make([]float64, n)
	for k := 0; k < n; k++ {
		r[k] = a[k] / b[k]
	}
	return median(r)
}

// p is the pct-th percentile of all.
func p(all []time.Duration, pct int) time.Duration {
	s := append([]time.Duration(nil), all...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)*pct/100]
}
