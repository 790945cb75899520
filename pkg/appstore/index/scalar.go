package index

import (
	"bytes"
	"unicode/utf8"
)

// scalar reads the scalar at p; continuation lines must be indented deeper than col.
// It returns with p at the start of the line after the scalar.
func (s *scanner) scalar(col int) val {
	switch c := s.d[s.p]; c {
	case '"', '\'':
		v := s.unquote(col)
		s.afterScalar()
		return val{k: kScalar, s: v}
	case '|', '>':
		return val{k: kScalar, s: s.block(col)}
	case '[', '{':
		return s.flowValue()
	case '&', '*', '!', '%', '@', '`', ']', '}', ',':
		s.unsupported("%q starting a node", c)
		return val{}
	case '?', ':':
		if isBlank(s.at(s.p+1)) || s.isBreak(s.p+1) {
			s.unsupported("complex key")
			return val{}
		}
	}
	return s.plain(col)
}

func isNull(b []byte) bool {
	switch string(b) {
	case "~", "null", "Null", "NULL":
		return true
	}
	return false
}

// result keeps the scratch buffer and returns its content as a snapshot string.
func (s *scanner) result(out []byte) string {
	s.buf = out
	if s.discard {
		return ""
	}
	return s.in.intern(view(out))
}

// plain reads a plain scalar, folding continuation lines as YAML does: one line break
// becomes a space, n empty lines become n newlines.
func (s *scanner) plain(col int) val {
	d := s.d
	start := s.p
	e := s.eol(start)
	end, comment := s.plainLine(start, e)
	first := d[start:end]
	s.p = e
	s.nextLine()
	var out []byte
	multi := false
	for !comment && s.err == nil && s.p < len(d) {
		blank, i := 0, s.p
		for {
			for i < len(d) && d[i] == ' ' {
				i++
			}
			if i < len(d) && d[i] == '\t' {
				s.unsupported("tab in a plain scalar's indentation")
				return val{}
			}
			if i >= len(d) || !s.isBreak(i) {
				break
			}
			blank++
			s.p = i
			s.nextLine()
			i = s.p
		}
		if i >= len(d) || i-s.ls <= col || d[i] == '#' {
			break
		}
		e = s.eol(i)
		var end2 int
		end2, comment = s.plainLine(i, e)
		if !s.discard {
			if !multi {
				out = append(s.buf[:0], first...)
			}
			if blank == 0 {
				out = append(out, ' ')
			}
			for ; blank > 0; blank-- {
				out = append(out, '\n')
			}
			out = append(out, d[i:end2]...)
		}
		multi = true
		s.p = e
		s.nextLine()
	}
	if s.err != nil {
		return val{}
	}
	if multi {
		return val{k: kScalar, s: s.result(out)}
	}
	if isNull(first) {
		return val{k: kNull}
	}
	return val{k: kScalar, s: view(first)}
}

// plainLine returns the end of a plain scalar's text on the line [i, e) and whether a
// comment ends it; ": " inside means a nested mapping, which YAML forbids here.
func (s *scanner) plainLine(i, e int) (int, bool) {
	seg := s.d[i:e]
	end, comment := len(seg), false
	for off := 0; ; {
		h := bytes.IndexByte(seg[off:], '#')
		if h < 0 {
			break
		}
		h += off
		if h > 0 && isBlank(seg[h-1]) {
			end, comment = h, true
			break
		}
		off = h + 1
	}
	for off := 0; ; {
		c := bytes.IndexByte(seg[off:end], ':')
		if c < 0 {
			break
		}
		c += off
		if c+1 == len(seg) || isBlank(seg[c+1]) {
			s.unsupported("': ' inside a plain scalar")
			return i, true
		}
		off = c + 1
	}
	for end > 0 && isBlank(seg[end-1]) {
		end--
	}
	return i + end, comment
}

// afterScalar checks that only blanks or a comment follow on the line, then moves on.
func (s *scanner) afterScalar() {
	if s.err != nil {
		return
	}
	i := s.p
	for isBlank(s.at(i)) {
		i++
	}
	if !s.isBreak(i) && !(s.at(i) == '#' && i > s.p) {
		s.unsupported("content after a scalar")
		return
	}
	s.p = i
	s.nextLine()
}

// unquote reads a single- or double-quoted scalar at p and leaves p after its closing
// quote. Continuation lines must be indented deeper than col (YAML requires it; the
// YAML library does not check, so such input goes to the slow path).
func (s *scanner) unquote(col int) string {
	d := s.d
	q := d[s.p]
	i := s.p + 1
	j := i
	for j < len(d) && d[j] != q && d[j] != '\\' && d[j] != '\n' && d[j] != '\r' {
		j++
	}
	if j < len(d) && d[j] == q && !(q == '\'' && s.at(j+1) == '\'') {
		s.p = j + 1
		return view(d[i:j])
	}
	out := s.buf[:0]
	for s.err == nil {
		if i >= len(d) {
			s.unsupported("unterminated quoted scalar")
			break
		}
		switch c := d[i]; {
		case c == q:
			if q == '\'' && s.at(i+1) == '\'' {
				out = append(out, '\'')
				i += 2
				continue
			}
			s.p = i + 1
			return s.result(out)
		case c == '\\' && q == '"':
			if s.isBreak(i + 1) {
				i = s.qbreak(i+1, col, &out, true)
				continue
			}
			r, n := escape(d[i+1:])
			if n == 0 {
				s.unsupported("escape sequence")
				break
			}
			out = utf8.AppendRune(out, r)
			i += 1 + n
		case c == ' ' || c == '\t':
			k := i
			for k < len(d) && isBlank(d[k]) {
				k++
			}
			if !s.isBreak(k) {
				out = append(out, d[i:k]...)
			}
			i = k
		case c == '\n' || c == '\r':
			i = s.qbreak(i, col, &out, false)
		default:
			out = append(out, c)
			i++
		}
	}
	return ""
}

// qbreak folds the line break at i inside a quoted scalar and returns the index of the
// next line's first non-blank byte.
func (s *scanner) qbreak(i, col int, out *[]byte, escaped bool) int {
	empty := 0
	for {
		s.p = i
		s.nextLine()
		i = s.p
		for i < len(s.d) && s.d[i] == ' ' {
			i++
		}
		if i < len(s.d) && s.d[i] == '\t' {
			s.unsupported("tab in a quoted scalar's indentation")
			return i
		}
		if i >= len(s.d) || !s.isBreak(i) {
			break
		}
		empty++
	}
	if i >= len(s.d) || i-s.ls <= col {
		s.unsupported("quoted scalar continuation not indented")
		return i
	}
	if empty == 0 && !escaped {
		*out = append(*out, ' ')
	}
	for ; empty > 0; empty-- {
		*out = append(*out, '\n')
	}
	return i
}

// escape decodes a double-quoted escape (b after the backslash) as the YAML library
// does; n is 0 for an invalid one.
func escape(b []byte) (r rune, n int) {
	if len(b) == 0 {
		return 0, 0
	}
	if r, ok := simpleEscapes[b[0]]; ok {
		return r, 1
	}
	size := hexEscapes[b[0]]
	if size == 0 || len(b) < 1+size {
		return 0, 0
	}
	for _, c := range b[1 : 1+size] {
		v, ok := unhex(c)
		if !ok {
			return 0, 0
		}
		r = r<<4 | rune(v)
	}
	if (r >= 0xd800 && r <= 0xdfff) || r > 0x10ffff || r < 0 {
		return 0, 0
	}
	return r, 1 + size
}

var simpleEscapes = map[byte]rune{'0': 0, 'a': 7, 'b': 8, 't': 9, '\t': 9, 'n': 10, 'v': 11, 'f': 12, 'r': 13,
	'e': 0x1b, ' ': ' ', '"': '"', '\'': '\'', '\\': '\\', 'N': 0x85, '_': 0xa0, 'L': 0x2028, 'P': 0x2029}

var hexEscapes = map[byte]int{'x': 2, 'u': 4, 'U': 8}
