package appview

import (
	"reflect"
	"strings"
	"testing"
)

func TestSegments(t *testing.T) {
	long := strings.Repeat("a", 250)
	for _, c := range []struct {
		name            string
		in              []string
		prefix, reserve int
		want            []string
	}{
		{"valid names stay", []string{"nginx", "1.2.3", "a-b.c"}, 5, 0, []string{"nginx", "1.2.3", "a-b.c"}},
		{"capitals are lowercased", []string{"MyApp", "1.0.0-RC1"}, 5, 0, []string{"myapp", "1.0.0-rc1"}},
		{"an exact name wins a collision", []string{"redis", "Redis"}, 5, 0, []string{"redis", h("Redis")}},
		{"colliding lowercased names are both hashed", []string{"Redis", "REDIS"}, 5, 0, []string{h("Redis"), h("REDIS")}},
		{"invalid characters", []string{"1.0.0+build", "a_b", "-x", "x.", ""}, 5, 0,
			[]string{h("1.0.0+build"), h("a_b"), h("-x"), h("x."), h("")}},
		{"too long with the prefix", []string{long}, 5, 0, []string{h(long)}},
		{"too long with what must follow", []string{"abc"}, 240, 12, []string{h("abc")}},
		{"fits exactly", []string{"abc"}, 238, 12, []string{"abc"}},
		{"a real name that looks like the hash", []string{h("x_y"), "x_y"}, 5, 0, []string{h("x_y"), hashed("x_y", 11)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := segments(c.in, c.prefix, c.reserve); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("segments(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestTableNames(t *testing.T) {
	c, _, _ := fixture(t)
	var apps, vers []string
	repos, _ := c.List()
	for _, r := range ordered(repos, predicate{}) {
		tb := newTable(r)
		for _, e := range tb.apps {
			apps = append(apps, e.name)
		}
		for _, e := range tb.versions {
			vers = append(vers, e.name)
			if app := e.name[:e.appLen]; tb.apps[search(tb.apps, app)].name != app {
				t.Errorf("version %s: application %s not in the table", e.name, app)
			}
		}
	}
	if !reflect.DeepEqual(apps, wantApps) {
		t.Errorf("applications %q, want %q", apps, wantApps)
	}
	if !reflect.DeepEqual(vers, wantVersions) {
		t.Errorf("versions %q, want %q", vers, wantVersions)
	}
}

func TestTablesCache(t *testing.T) {
	c, _, _ := fixture(t)
	ts := newTables(c)
	r1, _ := c.Get("main")
	t1 := ts.get(r1)
	if ts.get(r1) != t1 {
		t.Fatal("the table of a snapshot was built twice")
	}
	r2 := repo(t, "main", mainUID, otherIndex)
	c.Put(r2)
	t2 := ts.get(r2)
	if ts.get(r1) != t1 || ts.get(r2) != t2 {
		t.Fatal("the previous snapshot's table, which watchers diff against, was dropped")
	}
	c.Delete("main")
	other, _ := c.Get("other")
	ts.get(other)
	if _, ok := ts.byRepo["main"]; ok {
		t.Fatal("the tables of a deleted Repo are kept")
	}
}

func TestVersionNamesAcrossCharts(t *testing.T) {
	r := repo(t, "main", mainUID, `apiVersion: v1
entries:
  a.b:
  - name: a.b
    version: 1.0.0
  a:
  - name: a
    version: b.1.0.0
  - name: a
    version: 2.0.0
`)
	var got []string
	for _, e := range newTable(r).versions {
		got = append(got, e.name)
	}
	want := sortedNames("main.a.b."+h("1.0.0"), "main.a."+h("b.1.0.0"), "main.a.2.0.0")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("versions %q, want %q", got, want)
	}
}
