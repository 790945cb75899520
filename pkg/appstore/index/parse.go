package index

import (
	"bytes"
	"unicode/utf8"
)

// Parse reads an index with the fast scanner (YAML) or encoding/json (first non-space
// byte '{'). Errors wrapping ErrUnsupported mean "use ParseSlow"; other errors mean the
// document is not a usable index.
func Parse(data []byte) (*Snapshot, error) {
	if err := checkText(data); err != nil {
		return nil, err
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return parseJSON(data)
	}
	b := &builder{}
	s := &scanner{d: data, line: 1, in: &b.in}
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		s.p, s.ls = 3, 3 // a BOM is not part of the first line's indentation
	}
	if err := s.root(b); err != nil {
		return nil, err
	}
	b.meta = func(v *rawVersion) (*rawMeta, error) {
		m := &rawMeta{}
		s.p, s.ls, s.line, s.err = v.off, lineStart(data, v.off), v.line, nil
		s.version(b, &rawVersion{}, m)
		if s.err != nil {
			return nil, s.err
		}
		return m, nil
	}
	return b.build()
}

func lineStart(d []byte, i int) int { return bytes.LastIndexByte(d[:i], '\n') + 1 }

// checkText rejects, as unsupported, bytes the YAML library either refuses or treats
// as line breaks (lone CR, NEL, LS, PS), so the scanner's line model is the library's.
func checkText(d []byte) error {
	for i := 0; i < len(d); {
		c := d[i]
		if c >= 0x20 && c < 0x7f || c == '\n' || c == '\t' {
			i++
			continue
		}
		if c == '\r' {
			if i+1 < len(d) && d[i+1] == '\n' {
				i += 2
				continue
			}
			return textErr(d, i, "carriage return without line feed")
		}
		if c < 0x80 {
			return textErr(d, i, "control character")
		}
		r, n := utf8.DecodeRune(d[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			return textErr(d, i, "invalid UTF-8")
		case r == 0xfeff && i == 0:
		case r == 0x85, r == 0x2028, r == 0x2029, r < 0xa0, r >= 0xd800 && r < 0xe000, r == 0xfeff, r == 0xfffe, r == 0xffff:
			return textErr(d, i, "character the YAML library treats specially")
		}
		i += n
	}
	return nil
}

func textErr(d []byte, i int, msg string) error {
	return &Error{Line: bytes.Count(d[:i], []byte("\n")) + 1, Msg: "unsupported input (" + msg + ")", unsupported: true}
}

// root reads the top-level mapping: apiVersion and entries, everything else skipped.
func (s *scanner) root(b *builder) error {
	s.marker = true // one leading "---" is allowed
	ind := s.content()
	s.marker = false
	if ind == 0 && s.docMarker() && s.skipMarker() {
		ind = s.content()
	}
	if s.err != nil {
		return s.err
	}
	if ind < 0 {
		return &Error{Msg: "empty document: not a Helm repository index (want apiVersion: v1 and entries)"}
	}
	if !s.isKey() {
		switch s.d[s.p] {
		case '&', '!', '*', '?', '%', '@', '`':
			s.unsupported("node property at the top level")
			return s.err
		case '<':
			return &Error{Line: s.line, Msg: "document is HTML, not a Helm repository index (does the Repo URL point at the chart repository root?)"}
		}
		return &Error{Line: s.line, Msg: "document is not a mapping: not a Helm repository index"}
	}
	apiVersion, haveAPI, haveEntries, apiLine := "", false, false, 0
	s.mapping(ind, func(k string) {
		line := s.line
		switch k {
		case "apiVersion":
			v := s.value(ind, false)
			s.skip(v)
			apiVersion, haveAPI, apiLine = v.s, true, line
			if v.k != kScalar && v.k != kNull {
				apiVersion = "(not a string)"
			}
		case "entries":
			if haveEntries {
				s.err = &Error{Line: line, Msg: "entries appears twice"}
				s.p = len(s.d)
				return
			}
			haveEntries = true
			s.entries(b, ind, line)
		default:
			s.skip(s.value(ind, false))
		}
	})
	if s.err != nil {
		return s.err
	}
	return checkHeader(haveAPI, apiVersion, haveEntries, apiLine)
}

func checkHeader(haveAPI bool, apiVersion string, haveEntries bool, line int) error {
	if !haveAPI || apiVersion == "" {
		return &Error{Msg: "no apiVersion: not a Helm repository index (want apiVersion: v1)"}
	}
	if apiVersion != "v1" {
		return &Error{Line: line, Msg: "apiVersion " + quote(apiVersion) + " is not supported (want v1)"}
	}
	if !haveEntries {
		return &Error{Msg: "no entries: not a Helm repository index"}
	}
	return nil
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return "\"" + s + "\""
}

// skipMarker consumes a leading "---" line (a comment may follow it).
func (s *scanner) skipMarker() bool {
	if !s.docMarker() || s.at(s.p) != '-' {
		s.unsupported("document marker")
		return false
	}
	s.p += 3
	s.afterScalar()
	return s.err == nil
}
