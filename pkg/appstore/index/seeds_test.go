package index

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestFuzzSeedsFast keeps the seed corpus inside the fast path, so fuzzing starts from
// inputs where Parse and ParseSlow are really compared.
func TestFuzzSeedsFast(t *testing.T) {
	files, _ := filepath.Glob("testdata/fuzz/FuzzParse/*")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lit := strings.TrimSuffix(strings.TrimPrefix(strings.SplitN(string(raw), "\n", 2)[1], "[]byte("), ")\n")
		data, err := strconv.Unquote(lit)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		s := mustAgree(t, data)
		if _, v := s.Counts(); v == 0 {
			t.Errorf("%s: no versions", f)
		}
	}
}
