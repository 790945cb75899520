package index

import (
	"slices"
	"testing"
)

func TestAssemble(t *testing.T) {
	snap := Assemble([]Chart{
		{Name: "zeta", Versions: []Version{{Version: "1.0.0"}}},
		{Name: "empty"},
		{Name: "alpha", Versions: []Version{
			{Version: "0.1.0", Description: "old"}, {Version: "0.10.0", Description: "new"},
			{Version: "0.2.0-rc.1"}, {Version: "0.2.0"},
		}},
	}, 3)
	if len(snap.Charts) != 2 || snap.Charts[0].Name != "alpha" || snap.Charts[1].Name != "zeta" || snap.Skipped != 3 {
		t.Fatalf("charts %+v", snap.Charts)
	}
	var got []string
	for _, v := range snap.Charts[0].Versions {
		got = append(got, v.Version)
	}
	if want := []string{"0.10.0", "0.2.0", "0.2.0-rc.1", "0.1.0"}; !slices.Equal(got, want) {
		t.Fatalf("versions %v, want %v", got, want)
	}
	if snap.Charts[0].Description != "new" {
		t.Fatalf("description %q: want the newest version's", snap.Charts[0].Description)
	}
	if c, _ := snap.Counts(); c != 2 {
		t.Fatalf("counts %d", c)
	}
}

func TestIsStrictSemver(t *testing.T) {
	for s, want := range map[string]bool{
		"1.2.3": true, "0.1.0-rc.1": true, "1.0.0+build.5": true, "1.0.0-alpha+b": true,
		"v1.2.3": false, "1.2": false, "1": false, "01.2.3": false, "1.2.3-01": false,
		"latest": false, "": false, "1.2.3+": false, "1.2.3.4": false, "sha256-abc.sig": false,
	} {
		if got := IsStrictSemver(s); got != want {
			t.Errorf("IsStrictSemver(%q) = %v, want %v", s, got, want)
		}
	}
}
