// Package security attacks the product the way an intruder would, against a real host and
// real members: each probe uses a credential that carries nothing else (a kubeconfig with
// no user for a token, a certificate of a user with no other right), tries one thing that
// must be refused, and counts as an escape when it is not. TestMain prints the number of
// probes and escapes; any escape fails the package.
package security

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"kubesphere.io/multicluster/internal/localenv"
)

var env *localenv.Env

func TestMain(m *testing.M) {
	os.Exit(localenv.RunTests("security-test", func(e *localenv.Env) { e.AgentMembers = []string{"member2"}; e.AppStoreRepos = true },
		func(e *localenv.Env) int {
			env = e
			code := m.Run()
			if n := report(); n > 0 && code == 0 {
				code = 1
			}
			return code
		}, "member1", "member2"))
}

// tally counts probes and escapes by class.
var tally = struct {
	sync.Mutex
	probes, escapes map[string]int
}{probes: map[string]int{}, escapes: map[string]int{}}

// probe runs one attack of class: attack returns nil when it was refused as it must be,
// and an error saying what got through otherwise (an escape).
func probe(t *testing.T, class, name string, attack func() error) {
	t.Helper()
	err := attack()
	tally.Lock()
	tally.probes[class]++
	if err != nil {
		tally.escapes[class]++
	}
	tally.Unlock()
	if err != nil {
		t.Errorf("ESCAPE [%s] %s: %v", class, name, err)
	}
}

// report prints the probes and escapes by class and returns the number of escapes.
func report() int {
	tally.Lock()
	defer tally.Unlock()
	classes := make([]string, 0, len(tally.probes))
	total, escapes := 0, 0
	for c, n := range tally.probes {
		classes = append(classes, c)
		total += n
		escapes += tally.escapes[c]
	}
	sort.Strings(classes)
	fmt.Printf("security: %d probes, %d escapes\n", total, escapes)
	for _, c := range classes {
		fmt.Printf("  %-28s %4d probes %4d escapes\n", c, tally.probes[c], tally.escapes[c])
	}
	return escapes
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
