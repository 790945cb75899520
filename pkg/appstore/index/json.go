package index

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// jRaw keeps a JSON value's bytes as a view into the input: each level is decoded only
// as far as the index view needs, and exact (case-sensitive) keys are kept, which
// struct decoding would not.
type jRaw []byte

func (r *jRaw) UnmarshalJSON(b []byte) error { *r = b; return nil }

// parseJSON reads a JSON index with encoding/json under the same rules as the YAML
// scanner. Syntax errors are ErrUnsupported: a '{' document may be YAML flow style.
func parseJSON(data []byte) (*Snapshot, error) {
	var root map[string]jRaw
	if err := json.Unmarshal(data, &root); err != nil {
		return nil, &Error{Msg: fmt.Sprintf("unsupported JSON (%v)", err), unsupported: true}
	}
	b := &builder{}
	apiVersion, haveAPI := "", false
	if v, ok := root["apiVersion"]; ok {
		var isScalar bool
		if apiVersion, isScalar = jScalar(v); !isScalar {
			apiVersion = "(not a string)"
		}
		haveAPI = true
	}
	entries, haveEntries := root["entries"]
	if haveEntries && !jNull(entries) {
		if entries[0] != '{' {
			return nil, &Error{Msg: "entries is not a mapping of chart names to version lists"}
		}
		var charts map[string]jRaw
		if err := json.Unmarshal(entries, &charts); err != nil {
			return nil, &Error{Msg: fmt.Sprintf("unsupported JSON (%v)", err), unsupported: true}
		}
		for name, list := range charts {
			ch := rawChart{name: name, lo: len(b.vers)}
			switch {
			case jNull(list):
			case list[0] == '[':
				var items []jRaw
				if err := json.Unmarshal(list, &items); err != nil {
					return nil, &Error{Msg: err.Error(), unsupported: true}
				}
				for _, it := range items {
					if it[0] != '{' {
						b.skipped++
						continue
					}
					rv, err := jVersion(b, it)
					if err != nil {
						return nil, err
					}
					b.vers = append(b.vers, rv)
				}
			default:
				b.skipped++
			}
			ch.hi = len(b.vers)
			b.charts = append(b.charts, ch)
		}
	}
	if err := checkHeader(haveAPI, apiVersion, haveEntries, 0); err != nil {
		return nil, err
	}
	return b.build()
}

func jVersion(b *builder, it jRaw) (rawVersion, error) {
	var fields map[string]jRaw
	if err := json.Unmarshal(it, &fields); err != nil {
		return rawVersion{}, &Error{Msg: err.Error(), unsupported: true}
	}
	rv := rawVersion{meta: &rawMeta{}}
	m := rv.meta
	for k, v := range fields {
		switch fi := fieldIndex(k); {
		case fi == urlsField:
			lo := len(b.urls)
			var ok bool
			b.urls, ok = jList(b.urls, v)
			rv.setBad(fi, !ok)
			rv.urlLo, rv.urlHi = lo, len(b.urls)
		case fi >= 0:
			s, ok := jScalar(v)
			*rv.field(fi) = s
			rv.setBad(fi, !ok)
		}
		switch k {
		case "icon":
			m.icon, _ = jScalar(v)
		case "home":
			m.home, _ = jScalar(v)
		case "keywords", "sources":
			l, ok := jList(nil, v)
			if !ok {
				l = nil
			}
			if k == "keywords" {
				m.keywords = l
			} else {
				m.sources = l
			}
		case "maintainers":
			if v[0] != '[' {
				continue
			}
			var raw []jRaw
			_ = json.Unmarshal(v, &raw)
			m.maintainers = nil
			for _, r := range raw {
				var one map[string]jRaw
				if r[0] != '{' || json.Unmarshal(r, &one) != nil {
					continue
				}
				n, _ := jScalar(one["name"])
				e, _ := jScalar(one["email"])
				u, _ := jScalar(one["url"])
				m.maintainers = append(m.maintainers, Maintainer{n, e, u})
			}
		}
	}
	return rv, nil
}

func jNull(v jRaw) bool { return len(v) == 0 || bytes.Equal(v, []byte("null")) }

// jScalar returns a JSON scalar as YAML would read it: strings unquoted, numbers and
// booleans as written, null as "".
func jScalar(v jRaw) (string, bool) {
	switch {
	case jNull(v):
		return "", true
	case v[0] == '[' || v[0] == '{':
		return "", false
	case v[0] != '"':
		return view(v), true
	case bytes.IndexByte(v, '\\') < 0:
		return view(v[1 : len(v)-1]), true
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

func jList(dst []string, v jRaw) ([]string, bool) {
	if jNull(v) {
		return dst, true
	}
	if v[0] != '[' {
		return dst, false
	}
	var items []jRaw
	if json.Unmarshal(v, &items) != nil {
		return dst, false
	}
	ok := true
	for _, it := range items {
		s, isScalar := jScalar(it)
		if !isScalar {
			ok = false
			continue
		}
		dst = append(dst, s)
	}
	return dst, ok
}
