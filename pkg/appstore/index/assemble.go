package index

import (
	"slices"
	"strings"
)

// Assemble makes a Snapshot of charts that were not read from an index (an OCI Repo's
// listed tags), with the rules Parse applies: charts sorted by name, versions newest
// first by semver precedence (unparsable versions last, in input order), and a chart's
// Description that of its newest version. The chart-level metadata (Icon, Home, ...) is
// the caller's, read from the newest version. charts is reordered in place.
func Assemble(charts []Chart, skipped int) *Snapshot {
	out := charts[:0]
	for _, c := range charts {
		if len(c.Versions) == 0 {
			continue
		}
		slices.SortStableFunc(c.Versions, func(x, y Version) int {
			return compareSemver(parseSemver(y.Version), parseSemver(x.Version))
		})
		c.Description = c.Versions[0].Description
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y Chart) int { return strings.Compare(x.Name, y.Name) })
	return &Snapshot{Charts: out, Skipped: skipped}
}

// CompareVersions orders two chart versions by semver precedence, as Snapshot sorts
// them: negative when a is older than b.
func CompareVersions(a, b string) int { return compareSemver(parseSemver(a), parseSemver(b)) }

// IsStrictSemver reports whether s is a semver 2.0 version with all three numeric parts,
// no "v" prefix and no leading zeros: what Helm accepts as a chart version in an OCI tag
// (after reading "_" as "+").
func IsStrictSemver(s string) bool {
	if s == "" || s[0] == 'v' || !parseSemver(s).ok {
		return false
	}
	core := s
	if i := strings.IndexAny(core, "-+"); i >= 0 {
		core = core[:i]
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if len(p) > 1 && p[0] == '0' {
			return false
		}
	}
	return true
}
