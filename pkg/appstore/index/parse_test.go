package index

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// one builds a one-version index whose description is written as value.
func one(value string) string {
	return "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    description: " + value + "\n    urls:\n    - a-1.0.0.tgz\n"
}

// mustAgree parses with both paths and fails unless they return the same snapshot.
func mustAgree(t *testing.T, in string) *Snapshot {
	t.Helper()
	fast, err := Parse([]byte(in))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, in)
	}
	slow, err := ParseSlow([]byte(in))
	if err != nil {
		t.Fatalf("ParseSlow: %v", err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("Parse and ParseSlow differ on\n%s\nfast: %#v\nslow: %#v", in, fast, slow)
	}
	return fast
}

func TestScalars(t *testing.T) {
	for _, c := range []struct{ name, value, want string }{
		{"plain", "A chart", "A chart"},
		{"plain with colon and hash", "a:b c#d http://x", "a:b c#d http://x"},
		{"comment", "text # a comment", "text"},
		{"folded plain", "first\n      second\n\n      third", "first second\nthird"},
		{"continuation with indicators", "a\n      - b\n      [c] &d *e", "a - b [c] &d *e"},
		{"null", "~", ""},
		{"empty", "", ""},
		{"single quoted", "'it''s: #1'", "it's: #1"},
		{"single quoted folded", "'a\n      b\n\n      c'", "a b\nc"},
		{"double quoted escapes", `"tab\there \"q\" \\ \x41\u00e9\U0001F600 \N\_\L\P \/"`, ""},
		{"double escapes ok", `"tab\there \"q\" \\ \x41\u00e9\U0001F600"`, "tab\there \"q\" \\ Aé😀"},
		{"double quoted folded", "\"a  \n      b\\\n      c\\ \n      d\"", "a bc  d"},
		{"double quoted null text", `"null"`, "null"},
		{"literal", "|\n      line 1\n        indented\n\n      line 3\n", "line 1\n  indented\n\nline 3\n"},
		{"literal strip", "|-\n      x\n\n", "x"},
		{"literal keep", "|+\n      x\n\n", "x\n\n\n"},
		{"literal indicator", "|2\n        x\n       y", "  x\n y\n"},
		{"folded", ">\n      a\n      b\n\n      c\n        more\n      d\n", "a b\nc\n  more\nd\n"},
		{"folded strip comment", ">- # c\n      a\n      b", "a b"},
		{"unicode", "Ünïcødé ✓ 中文", "Ünïcødé ✓ 中文"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := one(c.value)
			if c.want == "" && c.value != "~" && c.value != "" {
				// escapes YAML has and the fast path leaves to the library
				if _, err := Parse([]byte(in)); !errors.Is(err, ErrUnsupported) {
					t.Fatalf("want ErrUnsupported, got %v", err)
				}
				return
			}
			s := mustAgree(t, in)
			if got := s.Charts[0].Versions[0].Description; got != c.want {
				t.Fatalf("description %q, want %q", got, c.want)
			}
		})
	}
}

func TestStructure(t *testing.T) {
	for _, c := range []struct{ name, in string }{
		{"indented sequences, CRLF, BOM, doc start", "\ufeff--- # start\r\napiVersion: v1\r\nentries:\r\n    a:\r\n        -   name: a\r\n            version: \"1.0.0\"\r\n            urls:\r\n                - u\r\n"},
		{"flow lists", "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    urls: [\"x y\", z, 'w']\n    keywords: []\n    maintainers: []\n    annotations: {}\n"},
		{"next-line scalars and quoted keys", "apiVersion: v1\nentries:\n  \"a\":\n  - 'name':\n      a\n    version:\n      \"1.0\"\n"},
		{"skipped subtrees", "apiVersion: v1\nserverInfo:\n  contextPath: /x\nentries:\n  a:\n  - annotations:\n      images: |\n        - name: \"x\n          y: z\n      other: >-\n        folded\n    dependencies:\n    - - nested\n      - seq\n    - {}\n    name: a\n    version: 1.0.0\ngenerated: \"2024-01-01T00:00:00Z\"\n"},
		{"compact nested sequence item", "apiVersion: v1\nentries:\n  a:\n  -\n    name: a\n    version: 1.0.0\n"},
		{"json", `{"apiVersion":"v1","entries":{"a":[{"name":"a","version":"1.0.0","urls":["u"],"created":"2024-01-01T00:00:00Z","digest":"` + strings.Repeat("ab", 32) + `","keywords":["k"],"maintainers":[{"name":"m","email":"e"}],"deprecated":true}],"b":null}}`},
		{"empty entries", "apiVersion: v1\nentries: {}\n"},
		{"null entries", "apiVersion: v1\nentries:\n"},
	} {
		t.Run(c.name, func(t *testing.T) { mustAgree(t, c.in) })
	}
}

func TestSkipped(t *testing.T) {
	in := "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 2.0.0\n  - version: 1.0.0\n  - name: a\n  - name: a\n    version: 1.5.0\n    digest: nothex\n  - just a string\n  - name: a\n    version: [1]\n  - name: a\n    version: 1.1.0\n  b: not-a-list\n  c:\n  - {}\n"
	s := mustAgree(t, in)
	if s.Skipped != 7 || len(s.Charts) != 1 || len(s.Charts[0].Versions) != 2 {
		t.Fatalf("skipped %d charts %+v", s.Skipped, s.Charts)
	}
}

func TestOrderAndMeta(t *testing.T) {
	in := "apiVersion: v1\nentries:\n  z:\n  - {name: z, version: 1}\n  a:\n" +
		"  - name: a\n    version: 1.0.0-rc.1\n    icon: old\n" +
		"  - name: a\n    version: not-semver\n" +
		"  - name: a\n    version: v1.0.0\n    icon: new\n    home: h\n    keywords:\n    - k1\n    maintainers:\n    - name: n\n      email: e\n    - bad\n" +
		"  - name: a\n    version: 1.0.0-rc.2\n  - name: a\n    version: 1.0.0-alpha\n  - name: a\n    version: 0.9.0\n"
	if _, err := Parse([]byte(in)); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("flow mapping: want ErrUnsupported, got %v", err)
	}
	in = strings.Replace(in, "  - {name: z, version: 1}\n", "  - name: z\n    version: 1\n", 1)
	s := mustAgree(t, in)
	a := s.Charts[0]
	var got []string
	for _, v := range a.Versions {
		got = append(got, v.Version)
	}
	want := []string{"v1.0.0", "1.0.0-rc.2", "1.0.0-rc.1", "1.0.0-alpha", "0.9.0", "not-semver"}
	if !reflect.DeepEqual(got, want) || s.Charts[1].Name != "z" {
		t.Fatalf("order %v, want %v", got, want)
	}
	if a.Icon != "new" || a.Home != "h" || !reflect.DeepEqual(a.Keywords, []string{"k1"}) || !reflect.DeepEqual(a.Maintainers, []Maintainer{{Name: "n", Email: "e"}}) {
		t.Fatalf("meta %+v", a)
	}
}

func TestUnsupported(t *testing.T) {
	for _, c := range []string{
		"apiVersion: v1\nentries:\n  a: &x\n  - name: a\n    version: 1\n",
		"apiVersion: v1\nentries:\n  a:\n  - name: !!str a\n    version: 1\n",
		"apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1\n    urls: [a,\n      b]\n",
		"apiVersion: v1\nentries:\n  ? a\n  : []\n",
		"apiVersion: v1\nentries:\n  a:\n  - <<: {name: a}\n    version: 1\n",
		"apiVersion: v1\nentries:\n  a:\n  - name: \"a\nb\"\n    version: 1\n",
		"apiVersion: v1\nentries: {}\n---\nmore: doc\n",
		"apiVersion: v1\r\rentries: {}\n",
		"{apiVersion: v1, entries: {}}",
		"apiVersion: v1\nentries:\n\ta: []\n",
	} {
		_, err := Parse([]byte(c))
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("want ErrUnsupported for %q, got %v", c, err)
		}
		if _, _, err := Load([]byte(c)); err != nil && !strings.Contains(c, "\t") && !strings.Contains(c, "\r\r") {
			t.Errorf("Load(%q): %v", c, err)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "empty document"},
		{"# only a comment\n", "empty document"},
		{"<html><body>Not Found</body></html>\n", "HTML"},
		{"just text\n", "not a mapping"},
		{"- a\n- b\n", "not a mapping"},
		{"entries: {}\n", "no apiVersion"},
		{"apiVersion: v2\nentries: {}\n", `apiVersion "v2" is not supported`},
		{"apiVersion: v1\n", "no entries"},
		{"apiVersion: v1\nentries: []\n", "line 2: entries is not a mapping"},
		{"apiVersion: v1\nentries: {}\nentries: {}\n", "line 3: entries appears twice"},
		{"apiVersion: v1\nentries:\n  a: []\n  a: []\n", `line 4: chart "a" is listed twice`},
		{`{"apiVersion": "v3", "entries": {}}`, `apiVersion "v3"`},
	} {
		for name, fn := range map[string]func([]byte) (*Snapshot, error){"Parse": Parse, "ParseSlow": ParseSlow} {
			_, err := fn([]byte(c.in))
			if err == nil || errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "index.yaml: ") {
				t.Errorf("%s(%q) = %v, want an error containing %q", name, c.in, err, c.want)
			}
		}
	}
}

func TestNoInputRetained(t *testing.T) {
	data := []byte(one("some description") + "    digest: " + strings.Repeat("0f", 32) + "\n")
	s, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 'X'
	}
	v := s.Charts[0].Versions[0]
	if s.Charts[0].Name != "a" || v.Version != "1.0.0" || v.Description != "some description" || v.URLs[0] != "a-1.0.0.tgz" || v.Digest[0] != 0x0f {
		t.Fatalf("snapshot changed with the input: %+v", s.Charts[0])
	}
}

func TestGeneratedAgree(t *testing.T) {
	s := mustAgree(t, string(genIndex(10, 30)))
	if c, v := s.Counts(); c != 10 || v != 300 || s.Skipped != 0 {
		t.Fatalf("counts %d %d skipped %d", c, v, s.Skipped)
	}
	if _, ok := s.Chart(s.Charts[3].Name); !ok {
		t.Fatal("Chart lookup")
	}
}
