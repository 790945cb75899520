package index

import (
	"slices"
	"strings"
	"time"
	"unsafe"
)

// rawVersion holds one version entry's fields as found in the input, before
// validation. Strings may still point into the input buffer; build copies them.
type rawVersion struct {
	name, version, appVersion, description   string
	created, digest, kubeVersion, deprecated string
	urlLo, urlHi                             int    // range in builder.urls
	bad                                      uint16 // bit i: the last occurrence of field i had the wrong shape
	off, line                                int    // fast path: where the version mapping starts (for the meta pass)
	meta                                     *rawMeta
}

// rawMeta is the chart-level metadata of one version. The fast path reads it only for
// each chart's newest version (a second look at that one mapping), the others never.
type rawMeta struct {
	icon, home        string
	keywords, sources []string
	maintainers       []Maintainer
}

// versionFields are the per-version keys, in the order of rawVersion.field's bits.
var versionFields = [...]string{"name", "version", "appVersion", "description", "created", "digest", "kubeVersion", "deprecated", "urls"}

const urlsField = 8

// field returns the destination of scalar field i.
func (v *rawVersion) field(i int) *string {
	return [...]*string{&v.name, &v.version, &v.appVersion, &v.description, &v.created, &v.digest, &v.kubeVersion, &v.deprecated}[i]
}

func fieldIndex(k string) int {
	for i, f := range versionFields {
		if f == k {
			return i
		}
	}
	return -1
}

// setBad records whether the latest occurrence of field i was wrongly shaped.
func (v *rawVersion) setBad(i int, bad bool) {
	if bad {
		v.bad |= 1 << i
	} else {
		v.bad &^= 1 << i
	}
}

type rawChart struct {
	name   string
	lo, hi int // range in builder.vers
}

// builder collects raw entries from one of the three front ends (fast YAML, JSON,
// yaml.v3) and turns them into a Snapshot with one set of rules, so the front ends
// only have to agree on raw strings.
type builder struct {
	charts  []rawChart
	vers    []rawVersion
	urls    []string
	skipped int
	in      interner
	meta    func(v *rawVersion) (*rawMeta, error)
}

func (b *builder) build() (*Snapshot, error) {
	snap := &Snapshot{Charts: make([]Chart, 0, len(b.charts))}
	keys := make([]semver, 0, 64)
	idx := make([]int, 0, 64)
	total := 0
	for _, rc := range b.charts {
		total += rc.hi - rc.lo
	}
	all := make([]Version, 0, total)
	urls := make([]string, 0, len(b.urls))
	for _, rc := range b.charts {
		idx, keys = idx[:0], keys[:0]
		for i := rc.lo; i < rc.hi; i++ {
			if v := &b.vers[i]; valid(v) && rc.name != "" {
				idx = append(idx, i)
				keys = append(keys, parseSemver(v.version))
			} else {
				b.skipped++
			}
		}
		if len(idx) == 0 {
			continue
		}
		order := make([]int, len(idx))
		for i := range order {
			order[i] = i
		}
		// Stable: equal precedence and invalid versions keep input order.
		slices.SortStableFunc(order, func(x, y int) int { return compareSemver(keys[y], keys[x]) })
		c := Chart{Name: b.in.copy(rc.name)}
		start := len(all)
		for _, o := range order {
			v := &b.vers[idx[o]]
			ver := Version{
				Version:     b.in.copy(v.version),
				AppVersion:  b.in.intern(v.appVersion),
				Description: b.in.intern(v.description),
				KubeVersion: b.in.intern(v.kubeVersion),
				Created:     parseCreated(v.created),
				Deprecated:  parseBool(v.deprecated),
			}
			ver.Digest, _ = parseDigest(v.digest)
			ul := len(urls)
			for _, u := range b.urls[v.urlLo:v.urlHi] {
				urls = append(urls, b.in.copy(u))
			}
			ver.URLs = urls[ul:len(urls):len(urls)]
			all = append(all, ver)
		}
		c.Versions = all[start:len(all):len(all)]
		newest := &b.vers[idx[order[0]]]
		m := newest.meta
		if m == nil && b.meta != nil {
			var err error
			if m, err = b.meta(newest); err != nil {
				return nil, err
			}
		}
		c.Description = c.Versions[0].Description
		if m != nil {
			c.Icon, c.Home = b.in.intern(m.icon), b.in.intern(m.home)
			c.Keywords, c.Sources = b.in.list(m.keywords), b.in.list(m.sources)
			for _, mt := range m.maintainers {
				c.Maintainers = append(c.Maintainers, Maintainer{b.in.intern(mt.Name), b.in.intern(mt.Email), b.in.intern(mt.URL)})
			}
		}
		snap.Charts = append(snap.Charts, c)
	}
	slices.SortFunc(snap.Charts, func(x, y Chart) int { return strings.Compare(x.Name, y.Name) })
	snap.Skipped = b.skipped
	return snap, nil
}

// valid is the one rule for dropping an entry: Helm cannot use a version without a
// name or version, and a malformed digest would fail every download.
func valid(v *rawVersion) bool {
	if v.bad != 0 || v.name == "" || v.version == "" {
		return false
	}
	_, ok := parseDigest(v.digest)
	return ok
}

func parseDigest(s string) (d [32]byte, ok bool) {
	s = strings.TrimPrefix(s, "sha256:")
	if s == "" {
		return d, true
	}
	if len(s) != 64 {
		return d, false
	}
	for i := 0; i < 32; i++ {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return [32]byte{}, false
		}
		d[i] = hi<<4 | lo
	}
	return d, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// parseCreated accepts what Helm writes (RFC 3339 with nanoseconds) and the YAML
// timestamp forms; anything else means "unknown", not an invalid entry.
func parseCreated(s string) int64 {
	if s == "" {
		return 0
	}
	for _, layout := range [...]string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999 -07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixNano()
		}
	}
	return 0
}

func parseBool(s string) bool { return s == "true" || s == "True" || s == "TRUE" }

// interner copies strings out of the input into large shared blocks (few allocations,
// nothing retains the input) and deduplicates the ones that repeat across versions.
type interner struct {
	m     map[string]string
	block []byte
}

const blockSize = 256 << 10

func (in *interner) copy(s string) string {
	if len(s) == 0 {
		return ""
	}
	if len(s) > cap(in.block)-len(in.block) {
		if len(s) > blockSize/8 {
			return strings.Clone(s)
		}
		in.block = make([]byte, 0, blockSize)
	}
	off := len(in.block)
	in.block = append(in.block, s...)
	return unsafe.String(&in.block[off], len(s))
}

func (in *interner) intern(s string) string {
	if len(s) == 0 {
		return ""
	}
	if v, ok := in.m[s]; ok {
		return v
	}
	if in.m == nil {
		in.m = make(map[string]string, 4096)
	}
	v := in.copy(s)
	in.m[v] = v
	return v
}

func (in *interner) list(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = in.intern(s)
	}
	return out
}

// view returns a string sharing b's memory; only for values build copies later.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
