// Package bench holds what bench-proxy and bench-tunnel do alike: route selection by id,
// the child processes that serve one side of a measurement, and figure formatting.
package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Ms formats d in milliseconds with two decimals, as every table prints latencies.
func Ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// ParseRoutes reads a --routes value: route ids, comma-separated, each one of known. An
// empty value is nil (the caller's default). legacy maps the one-letter names that
// bench-proxy's --routes took before ids (--routes=abicd) to ids; a value made only of
// such letters is read that way, so old command lines keep working.
func ParseRoutes(value string, known []string, legacy map[rune]string) ([]string, error) {
	if value == "" {
		return nil, nil
	}
	if ids, ok := parseLetters(value, legacy); ok {
		return ids, nil
	}
	var ids []string
	for _, id := range strings.Split(value, ",") {
		id = strings.TrimSpace(id)
		if !slices.Contains(known, id) {
			return nil, fmt.Errorf("--routes: unknown route %q (known: %s)", id, strings.Join(known, ", "))
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func parseLetters(value string, legacy map[rune]string) ([]string, bool) {
	if len(legacy) == 0 {
		return nil, false
	}
	var ids []string
	for _, r := range value {
		id, ok := legacy[r]
		if !ok {
			return nil, false
		}
		ids = append(ids, id)
	}
	return ids, true
}
