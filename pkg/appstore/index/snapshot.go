// Package index turns a Helm repository index (index.yaml as `helm repo index` and
// ChartMuseum write it, or its JSON form) into a compact, read-only Snapshot holding
// only what the App Store's Application and ApplicationVersion views show.
//
// Why not Helm's repo.LoadIndexFile or a YAML library: both build a full document tree
// and the complete chart metadata; on a 15 MB Bitnami-sized index that costs over a
// second and more than 10x the index size in allocations. Parse is a single-pass
// scanner for the block-YAML subset those writers emit; whatever it does not support it
// reports with ErrUnsupported, and ParseSlow (go.yaml.in/yaml/v3) produces the same
// Snapshot for those inputs. Load does both.
package index

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// ErrUnsupported is wrapped by Parse errors for YAML outside the fast scanner's subset
// (anchors, aliases, tags, multi-line flow collections, complex keys, ...) or input it
// could not judge; ParseSlow is the authority for such input.
var ErrUnsupported = errors.New("YAML construct not supported by the fast index parser")

// Snapshot is the parsed index. It retains no reference to the input buffer.
type Snapshot struct {
	Charts  []Chart // sorted by Name
	Skipped int     // invalid version entries that were dropped
}

// Chart is one entry of the index with the metadata of its newest version.
type Chart struct {
	Name        string
	Versions    []Version // newest first (semver precedence, invalid versions last)
	Description string
	Icon        string
	Home        string
	Keywords    []string
	Sources     []string
	Maintainers []Maintainer
}

// Maintainer is one chart maintainer as listed in the index.
type Maintainer struct {
	Name, Email, URL string
}

// Version is one chart version: only the fields an ApplicationVersion shows or an
// install needs (URLs and Digest to fetch and verify the archive).
type Version struct {
	Version     string
	AppVersion  string
	Description string
	KubeVersion string
	Created     int64    // unix nanoseconds; 0 when absent or unparsable
	Digest      [32]byte // sha256 of the archive; all zero when the index has none
	URLs        []string
	Deprecated  bool
}

// CreatedTime returns Created as a time.Time (zero time when unknown).
func (v *Version) CreatedTime() time.Time {
	if v.Created == 0 {
		return time.Time{}
	}
	return time.Unix(0, v.Created).UTC()
}

// HasDigest reports whether the index listed a digest for this version.
func (v *Version) HasDigest() bool { return v.Digest != [32]byte{} }

// Counts returns the number of charts and of chart versions, as Repo status shows them.
func (s *Snapshot) Counts() (charts, versions int) {
	for i := range s.Charts {
		versions += len(s.Charts[i].Versions)
	}
	return len(s.Charts), versions
}

// Chart returns the chart with the given name.
func (s *Snapshot) Chart(name string) (*Chart, bool) {
	i := sort.Search(len(s.Charts), func(i int) bool { return s.Charts[i].Name >= name })
	if i < len(s.Charts) && s.Charts[i].Name == name {
		return &s.Charts[i], true
	}
	return nil, false
}

// Load parses data with Parse and, when Parse reports ErrUnsupported, with ParseSlow.
// slow tells the caller the fallback was used (Repo condition reason SlowParse).
func Load(data []byte) (snap *Snapshot, slow bool, err error) {
	snap, err = Parse(data)
	if err == nil || !errors.Is(err, ErrUnsupported) {
		return snap, false, err
	}
	snap, err = ParseSlow(data)
	return snap, true, err
}

// Error is a parse error with the 1-based line it was found on (0 when unknown).
type Error struct {
	Line        int
	Msg         string
	unsupported bool
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("index.yaml: line %d: %s", e.Line, e.Msg)
	}
	return "index.yaml: " + e.Msg
}

// Is makes errors.Is(err, ErrUnsupported) true for fast-path limitations.
func (e *Error) Is(target error) bool { return e.unsupported && target == ErrUnsupported }
