package index

import (
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// ParseSlow parses any YAML (or JSON) index with go.yaml.in/yaml/v3 and applies the
// same rules as Parse, producing the identical Snapshot. It is the fallback for input
// Parse reports as ErrUnsupported and costs several times more time and memory.
func ParseSlow(data []byte) (*Snapshot, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if len(doc.Content) == 0 {
		return nil, &Error{Msg: "empty document: not a Helm repository index (want apiVersion: v1 and entries)"}
	}
	root := deref(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		if root.Kind == yaml.ScalarNode && strings.HasPrefix(root.Value, "<") {
			return nil, &Error{Line: root.Line, Msg: "document is HTML, not a Helm repository index (does the Repo URL point at the chart repository root?)"}
		}
		return nil, &Error{Line: root.Line, Msg: "document is not a mapping: not a Helm repository index"}
	}
	b := &builder{}
	apiVersion, haveAPI, haveEntries, apiLine := "", false, false, 0
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := deref(root.Content[i]), deref(root.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			continue
		}
		switch k.Value {
		case "apiVersion":
			s, ok := scalarOf(v)
			if !ok {
				s = "(not a string)"
			}
			apiVersion, haveAPI, apiLine = s, true, k.Line
		case "entries":
			if haveEntries {
				return nil, &Error{Line: k.Line, Msg: "entries appears twice"}
			}
			haveEntries = true
			if err := slowEntries(b, k, v); err != nil {
				return nil, err
			}
		}
	}
	if err := checkHeader(haveAPI, apiVersion, haveEntries, apiLine); err != nil {
		return nil, err
	}
	return b.build()
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// scalarOf returns a scalar's text ("" for null) and false for collections.
func scalarOf(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		return "", false
	}
	if n.ShortTag() == "!!null" {
		return "", true
	}
	return n.Value, true
}

func isNullNode(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func slowEntries(b *builder, k, v *yaml.Node) error {
	if isNullNode(v) {
		return nil
	}
	if v.Kind != yaml.MappingNode {
		return &Error{Line: k.Line, Msg: "entries is not a mapping of chart names to version lists"}
	}
	seen := make(map[string]int, len(v.Content)/2)
	for i := 0; i+1 < len(v.Content); i += 2 {
		ck, cv := deref(v.Content[i]), deref(v.Content[i+1])
		if ck.Kind != yaml.ScalarNode {
			return &Error{Line: ck.Line, Msg: "chart name is not a string"}
		}
		if first, dup := seen[ck.Value]; dup {
			return &Error{Line: ck.Line, Msg: fmt.Sprintf("chart %q is listed twice (first on line %d)", ck.Value, first)}
		}
		seen[ck.Value] = ck.Line
		ch := rawChart{name: ck.Value, lo: len(b.vers)}
		switch {
		case isNullNode(cv):
		case cv.Kind == yaml.SequenceNode:
			for _, item := range cv.Content {
				if item = deref(item); item.Kind == yaml.MappingNode {
					b.vers = append(b.vers, slowVersion(b, item))
				} else {
					b.skipped++
				}
			}
		default:
			b.skipped++
		}
		ch.hi = len(b.vers)
		b.charts = append(b.charts, ch)
	}
	return nil
}

func slowVersion(b *builder, n *yaml.Node) rawVersion {
	rv := rawVersion{meta: &rawMeta{}}
	m := rv.meta
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			continue
		}
		switch fi := fieldIndex(k.Value); {
		case fi == urlsField:
			lo := len(b.urls)
			var ok bool
			b.urls, ok = slowList(b.urls, v)
			rv.setBad(fi, !ok)
			rv.urlLo, rv.urlHi = lo, len(b.urls)
		case fi >= 0:
			s, ok := scalarOf(v)
			*rv.field(fi) = s
			rv.setBad(fi, !ok)
		}
		switch k.Value {
		case "icon":
			m.icon, _ = scalarOf(v)
		case "home":
			m.home, _ = scalarOf(v)
		case "keywords", "sources":
			l, ok := slowList(nil, v)
			if !ok {
				l = nil
			}
			if k.Value == "keywords" {
				m.keywords = l
			} else {
				m.sources = l
			}
		case "maintainers":
			m.maintainers = nil
			if v.Kind == yaml.SequenceNode {
				for _, item := range v.Content {
					if item = deref(item); item.Kind == yaml.MappingNode {
						m.maintainers = append(m.maintainers, slowMaintainer(item))
					}
				}
			}
		}
	}
	return rv
}

func slowList(dst []string, v *yaml.Node) ([]string, bool) {
	if isNullNode(v) {
		return dst, true
	}
	if v.Kind != yaml.SequenceNode {
		return dst, false
	}
	ok := true
	for _, item := range v.Content {
		s, isScalar := scalarOf(deref(item))
		if !isScalar {
			ok = false
			continue
		}
		dst = append(dst, s)
	}
	return dst, ok
}

func slowMaintainer(n *yaml.Node) Maintainer {
	var mt Maintainer
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		s, _ := scalarOf(v)
		switch k.Value {
		case "name":
			mt.Name = s
		case "email":
			mt.Email = s
		case "url":
			mt.URL = s
		}
	}
	return mt
}
