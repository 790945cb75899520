package index

import (
	"strconv"
	"strings"
)

// semver is a parsed version as github.com/Masterminds/semver/v3 NewVersion reads it
// (Helm sorts index entries with it): optional "v", 1-3 numeric parts, prerelease and
// build metadata. It is not in go.mod, so this is a small comparator with its rules.
type semver struct {
	major, minor, patch uint64
	pre                 string
	ok                  bool
}

func parseSemver(s string) semver {
	var v semver
	s = strings.TrimPrefix(s, "v")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		if !idents(s[i+1:], false) {
			return v
		}
		s = s[:i]
	}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		if !idents(s[i+1:], true) {
			return v
		}
		v.pre, s = s[i+1:], s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return v
	}
	nums := [3]uint64{}
	for i, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return v
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return v
		}
		nums[i] = n
	}
	v.major, v.minor, v.patch, v.ok = nums[0], nums[1], nums[2], true
	return v
}

// idents checks dot-separated [0-9A-Za-z-]+ identifiers; numeric prerelease
// identifiers must not have leading zeros (semver 2.0, Masterminds validatePrerelease).
func idents(s string, pre bool) bool {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		numeric := true
		for i := 0; i < len(id); i++ {
			c := id[i]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				numeric = false
			default:
				return false
			}
		}
		if pre && numeric && len(id) > 1 && id[0] == '0' {
			return false
		}
	}
	return true
}

// compareSemver orders by semver 2.0 precedence (build metadata ignored, a prerelease
// below its release); an unparsable version is below every valid one.
func compareSemver(a, b semver) int {
	switch {
	case !a.ok || !b.ok:
		return boolCmp(a.ok, b.ok)
	case a.major != b.major:
		return uintCmp(a.major, b.major)
	case a.minor != b.minor:
		return uintCmp(a.minor, b.minor)
	case a.patch != b.patch:
		return uintCmp(a.patch, b.patch)
	case a.pre == b.pre:
		return 0
	case a.pre == "":
		return 1
	case b.pre == "":
		return -1
	}
	ap, bp := strings.Split(a.pre, "."), strings.Split(b.pre, ".")
	for i := 0; i < len(ap) || i < len(bp); i++ {
		if i >= len(ap) {
			return -1
		}
		if i >= len(bp) {
			return 1
		}
		if d := comparePart(ap[i], bp[i]); d != 0 {
			return d
		}
	}
	return 0
}

func comparePart(a, b string) int {
	if a == b {
		return 0
	}
	an, aerr := strconv.ParseUint(a, 10, 64)
	bn, berr := strconv.ParseUint(b, 10, 64)
	switch {
	case aerr != nil && berr != nil:
		return strings.Compare(a, b)
	case aerr != nil: // alphanumeric above numeric
		return 1
	case berr != nil:
		return -1
	}
	return uintCmp(an, bn)
}

func uintCmp(a, b uint64) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

func boolCmp(a, b bool) int {
	if a == b {
		return 0
	}
	if a {
		return 1
	}
	return -1
}
