package bench

import (
	"slices"
	"testing"
)

func TestParseRoutes(t *testing.T) {
	known := []string{"direct", "bare-hop", "tower"}
	letters := map[rune]string{'a': "direct", 'b': "bare-hop", 't': "tower"}
	for _, tc := range []struct {
		value   string
		letters map[rune]string
		want    []string
		err     bool
	}{
		{"", letters, nil, false},
		{"direct,tower", letters, []string{"direct", "tower"}, false},
		{"direct, bare-hop", nil, []string{"direct", "bare-hop"}, false},
		{"bt", letters, []string{"bare-hop", "tower"}, false},
		{"bt", nil, nil, true},
		{"direct,ours", letters, nil, true},
	} {
		got, err := ParseRoutes(tc.value, known, tc.letters)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("ParseRoutes(%q) = %v, %v; want %v, error %v", tc.value, got, err, tc.want, tc.err)
		}
	}
}
