package index

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// The 15 MB / 15,000-version index of issue 23's benchmark.
var bigIndex = sync.OnceValue(func() []byte { return genIndex(150, 100) })

// baseline is what the design measured first: yaml.v3 decoding into minimal structs.
type baseIndex struct {
	APIVersion string                   `yaml:"apiVersion"`
	Entries    map[string][]baseVersion `yaml:"entries"`
}

type baseVersion struct {
	Name        string   `yaml:"name"`
	Version     string   `yaml:"version"`
	AppVersion  string   `yaml:"appVersion"`
	Description string   `yaml:"description"`
	Created     string   `yaml:"created"`
	Digest      string   `yaml:"digest"`
	KubeVersion string   `yaml:"kubeVersion"`
	Deprecated  bool     `yaml:"deprecated"`
	URLs        []string `yaml:"urls"`
	Icon        string   `yaml:"icon"`
	Home        string   `yaml:"home"`
	Keywords    []string `yaml:"keywords"`
	Sources     []string `yaml:"sources"`
	Maintainers []struct {
		Name  string `yaml:"name"`
		Email string `yaml:"email"`
		URL   string `yaml:"url"`
	} `yaml:"maintainers"`
}

func parseBaseline(data []byte) (any, error) {
	var idx baseIndex
	err := yaml.Unmarshal(data, &idx)
	return &idx, err
}

// measure runs one cold parse and returns its wall time and bytes allocated.
func measure(fn func([]byte) (any, error), data []byte) (time.Duration, uint64, error) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err := fn(data)
	d := time.Since(start)
	runtime.ReadMemStats(&after)
	return d, after.TotalAlloc - before.TotalAlloc, err
}

// TestParseFigures prints the figures for the 15 MB index, fast path and
// YAML-library baseline in the same run. Only the allocation ratio is asserted.
func TestParseFigures(t *testing.T) {
	data := bigIndex()
	snap, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	charts, versions := snap.Counts()
	t.Logf("index: %.1f MiB, %d charts, %d versions", float64(len(data))/(1<<20), charts, versions)
	var fastRatio float64
	for _, c := range []struct {
		name string
		fn   func([]byte) (any, error)
	}{
		{"Parse", func(d []byte) (any, error) { return Parse(d) }},
		{"ParseSlow", func(d []byte) (any, error) { return ParseSlow(d) }},
		{"yaml.v3 structs", parseBaseline},
	} {
		d, alloc, err := measure(c.fn, data)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		ratio := float64(alloc) / float64(len(data))
		if c.name == "Parse" {
			fastRatio = ratio
		}
		fmt.Printf("%-16s parse %8.1f ms  %7.1f MB/s  allocated %7.1f MiB = %5.2fx index size\n",
			c.name, float64(d.Microseconds())/1000, float64(len(data))/1e6/d.Seconds(), float64(alloc)/(1<<20), ratio)
	}
	if fastRatio > 10 {
		t.Errorf("Parse allocated %.2fx the index size, target <= 10x", fastRatio)
	}
}

func benchParse(b *testing.B, fn func([]byte) (any, error)) {
	data := bigIndex()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fn(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	benchParse(b, func(d []byte) (any, error) { return Parse(d) })
}

func BenchmarkParseSlow(b *testing.B) {
	benchParse(b, func(d []byte) (any, error) { return ParseSlow(d) })
}

func BenchmarkYAMLv3Baseline(b *testing.B) { benchParse(b, parseBaseline) }
