package appview

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/util/validation"

	"kubesphere.io/multicluster/pkg/appstore/catalog"
	"kubesphere.io/multicluster/pkg/appstore/index"
)

// Object names. An Application is "<repo>.<chart>" and an ApplicationVersion
// "<repo>.<chart>.<version>". Repo names are DNS-1123 labels (no dots), so the repo is the
// part of a name before its first dot; the rest is looked up in that Repo's name table,
// never parsed. A chart or version that is not a valid lowercase DNS-subdomain segment
// once lowercased, that collides with another once lowercased, or that would make a name
// longer than a DNS subdomain allows, is named h<first 10 hex of sha256(original)>
// instead (and so does each version of two that would meet in one name across charts,
// see unique); spec always holds the exact strings.

// hashLen is the length of a hashed segment: "h" and 10 hex digits.
const hashLen = 11

// hashed is the stand-in segment of a name that cannot be used as it is.
func hashed(original string, hexDigits int) string {
	sum := sha256.Sum256([]byte(original))
	return "h" + hex.EncodeToString(sum[:])[:hexDigits]
}

// segments names each of originals (unique strings: the charts of a repo, or the versions
// of a chart) for use after a prefix of prefixLen bytes; reserve bytes must remain free
// within the 253 of a DNS subdomain for what follows (a version after a chart).
func segments(originals []string, prefixLen, reserve int) []string {
	lower := make([]string, len(originals))
	count := make(map[string]int, len(originals))
	for i, o := range originals {
		lower[i] = strings.ToLower(o)
		count[lower[i]]++
	}
	out := make([]string, len(originals))
	used := make(map[string]bool, len(originals))
	var hash []int
	for i, o := range originals {
		l := lower[i]
		valid := prefixLen+len(l)+reserve <= validation.DNS1123SubdomainMaxLength &&
			len(validation.IsDNS1123Subdomain(l)) == 0
		// An exact valid name keeps it; a lowercased one only when nothing else
		// lowercases to it too.
		if valid && (o == l || count[l] == 1) {
			out[i] = l
			used[l] = true
		} else {
			hash = append(hash, i)
		}
	}
	for _, i := range hash {
		// A real segment that looks like a hash, or two originals whose hashes share
		// their first digits, take more digits: names must stay unique.
		n := hashLen - 1
		s := hashed(originals[i], n)
		for used[s] && n < 2*sha256.Size {
			n++
			s = hashed(originals[i], n)
		}
		out[i] = s
		used[s] = true
	}
	return out
}

// entry is one object of a Repo: its name, chart index, and version index (-1 for an
// Application).
type entry struct {
	name    string
	appLen  int // name[:appLen] is the Application's name
	chart   int
	version int
}

// table is the sorted names of one Repo snapshot's objects.
type table struct {
	repo     *catalog.Repo
	apps     []entry // sorted by name
	versions []entry // sorted by name
}

func newTable(r *catalog.Repo) *table {
	t := &table{repo: r}
	if r.Index == nil {
		return t
	}
	charts := r.Index.Charts
	names := make([]string, len(charts))
	total := 0
	for i := range charts {
		names[i] = charts[i].Name
		total += len(charts[i].Versions)
	}
	prefix := r.Name + "."
	// Every version of the chart must still fit after it: a dot and a hashed segment.
	chartSegs := segments(names, len(prefix), 1+hashLen)
	t.apps = make([]entry, len(charts))
	t.versions = make([]entry, 0, total)
	for i := range charts {
		app := prefix + chartSegs[i]
		t.apps[i] = entry{name: app, appLen: len(app), chart: i, version: -1}
		vs := charts[i].Versions
		originals := make([]string, len(vs))
		for j := range vs {
			originals[j] = vs[j].Version
		}
		for j, seg := range segments(originals, len(app)+1, 0) {
			t.versions = append(t.versions, entry{name: app + "." + seg, appLen: len(app), chart: i, version: j})
		}
	}
	sortEntries(t.apps)
	t.versions = unique(t.versions, charts)
	return t
}

// unique sorts versions and renames those whose names collide: chart segments may hold
// dots, so chart "a.b" version "1.0" and chart "a" version "b.1.0" make the same name.
// Each of them gets its version hashed.
func unique(vs []entry, charts []index.Chart) []entry {
	sortEntries(vs)
	dup := false
	for i := 1; i < len(vs) && !dup; i++ {
		dup = vs[i].name == vs[i-1].name
	}
	if !dup {
		return vs
	}
	count := make(map[string]int, len(vs))
	for _, e := range vs {
		count[e.name]++
	}
	for i, e := range vs {
		if count[e.name] < 2 {
			continue
		}
		original := charts[e.chart].Versions[e.version].Version
		n := hashLen - 1
		name := e.name[:e.appLen] + "." + hashed(original, n)
		for count[name] > 0 && n < 2*sha256.Size {
			n++
			name = e.name[:e.appLen] + "." + hashed(original, n)
		}
		vs[i].name = name
		count[name]++
	}
	sortEntries(vs)
	return vs
}

func sortEntries(es []entry) {
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
}

// search returns the index of the first entry whose name is not below name.
func search(es []entry, name string) int {
	return sort.Search(len(es), func(i int) bool { return es[i].name >= name })
}

// find returns the entry named name.
func find(es []entry, name string) (entry, bool) {
	if i := search(es, name); i < len(es) && es[i].name == name {
		return es[i], true
	}
	return entry{}, false
}

// repoOf returns the Repo part of an object name.
func repoOf(name string) string {
	repo, _, _ := strings.Cut(name, ".")
	return repo
}

// tables keeps the name tables of the snapshots in use: per Repo the current one and
// the one before it, which the watchers need while they diff a change. Objects are never
// kept, only these names.
type tables struct {
	catalog *catalog.Catalog
	mu      sync.Mutex
	byRepo  map[string][2]*table
}

func newTables(c *catalog.Catalog) *tables {
	return &tables{catalog: c, byRepo: map[string][2]*table{}}
}

// get returns the table of r, building it on first use.
func (ts *tables) get(r *catalog.Repo) *table {
	ts.mu.Lock()
	cached := ts.byRepo[r.Name]
	ts.mu.Unlock()
	for _, t := range cached {
		if t != nil && t.repo == r {
			return t
		}
	}
	t := newTable(r) // outside the lock: a large index takes milliseconds
	ts.mu.Lock()
	defer ts.mu.Unlock()
	cached = ts.byRepo[r.Name]
	for _, c := range cached {
		if c != nil && c.repo == r {
			return c
		}
	}
	// Forget the tables of Repos that are gone (misses are rare: one per snapshot).
	for name := range ts.byRepo {
		if _, ok := ts.catalog.Get(name); !ok && name != r.Name {
			delete(ts.byRepo, name)
		}
	}
	ts.byRepo[r.Name] = [2]*table{t, cached[0]}
	return t
}
