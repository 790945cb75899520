package index

import (
	"bytes"
	"fmt"
)

// scanner walks block YAML line by line. Structure comes from indentation alone, so a
// subtree the index view does not need is skipped without building anything; scalars
// come back as views into the input unless they had to be unescaped or folded.
type scanner struct {
	d       []byte
	p       int // cursor
	ls      int // start of the line p is on
	line    int // 1-based line number of p
	err     *Error
	discard bool // skipping: do not build scalar values
	marker  bool // content may stop at a document marker
	buf     []byte
	in      *interner
	flow    []string
}

type kind uint8

const (
	kNull kind = iota
	kScalar
	kSeq  // block sequence, p on its first '-'
	kMap  // block mapping, p on its first key
	kFlow // flow collection on one line; flowSeq says which, items in scanner.flow
)

// val is the node after a "key:" or "- " indicator.
type val struct {
	k       kind
	s       string
	ind     int // column of a block collection
	flowSeq bool
}

func (s *scanner) unsupported(format string, args ...any) {
	if s.err == nil {
		s.err = &Error{Line: s.line, Msg: "unsupported YAML (" + fmt.Sprintf(format, args...) + ")", unsupported: true}
	}
	s.p = len(s.d) // stop every loop
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// at returns the byte at i, or '\n' past the end, so lookahead needs no bounds checks.
func (s *scanner) at(i int) byte {
	if i < len(s.d) {
		return s.d[i]
	}
	return '\n'
}

func (s *scanner) isBreak(i int) bool { c := s.at(i); return c == '\n' || c == '\r' }

// eol returns the end of the line's content at or after i ('\r' of a CRLF excluded).
func (s *scanner) eol(i int) int {
	j := bytes.IndexByte(s.d[i:], '\n')
	if j < 0 {
		return len(s.d)
	}
	j += i
	if j > i && s.d[j-1] == '\r' {
		j--
	}
	return j
}

// nextLine moves p to the start of the following line.
func (s *scanner) nextLine() {
	j := bytes.IndexByte(s.d[s.p:], '\n')
	if j < 0 {
		s.p = len(s.d)
	} else {
		s.p += j + 1
		s.line++
	}
	s.ls = s.p
}

func (s *scanner) col() int { return s.p - s.ls }

// content skips blank and comment lines from a line start and returns the indentation
// of the next content line, p on its first character; -1 at the end of the input.
func (s *scanner) content() int {
	if s.p != s.ls && len(bytes.Trim(s.d[s.ls:s.p], " ")) == 0 {
		s.p = s.ls // already on a content line: look at it again from its start
	}
	for s.p < len(s.d) {
		if s.p != s.ls {
			s.nextLine()
			continue
		}
		i := s.p
		for i < len(s.d) && s.d[i] == ' ' {
			i++
		}
		c := s.at(i)
		if c == '\t' {
			j := i
			for j < len(s.d) && isBlank(s.d[j]) {
				j++
			}
			if !s.isBreak(j) && s.d[j] != '#' {
				s.unsupported("tab in indentation")
				return -1
			}
		} else if c != '\n' && c != '\r' && c != '#' {
			s.p = i
			if i == s.ls && !s.marker && s.docMarker() {
				s.unsupported("document marker")
				return -1
			}
			return i - s.ls
		}
		s.p = i
		s.nextLine()
	}
	return -1
}

// docMarker reports whether p starts a "---" or "..." line.
func (s *scanner) docMarker() bool {
	c := s.at(s.p)
	return (c == '-' || c == '.') && s.at(s.p+1) == c && s.at(s.p+2) == c && (isBlank(s.at(s.p+3)) || s.isBreak(s.p+3))
}

func (s *scanner) isSeqItem() bool {
	return s.at(s.p) == '-' && (isBlank(s.at(s.p+1)) || s.isBreak(s.p+1))
}

// inline moves p past the blanks after an indicator and reports whether a value
// follows on this line; if not, p moves to the next line start.
func (s *scanner) inline() bool {
	if s.at(s.p) == '\t' {
		s.unsupported("tab after indicator")
		return false
	}
	for s.p < len(s.d) && isBlank(s.d[s.p]) {
		s.p++
	}
	if c := s.at(s.p); c == '#' || c == '\n' || c == '\r' {
		s.nextLine()
		return false
	}
	return true
}

// isKey reports whether the line from p holds an implicit mapping key.
func (s *scanner) isKey() bool {
	d, i := s.d, s.p
	if c := d[i]; c == '"' || c == '\'' {
		j := s.closeQuote(i)
		if j < 0 {
			return false
		}
		for j++; isBlank(s.at(j)); j++ {
		}
		return s.at(j) == ':' && (isBlank(s.at(j+1)) || s.isBreak(j+1))
	}
	e := s.eol(i)
	for k := i; k < e; k++ {
		switch d[k] {
		case ':':
			if k+1 == e || isBlank(d[k+1]) {
				return true
			}
		case '#':
			if k > i && isBlank(d[k-1]) {
				return false
			}
		}
	}
	return false
}

// closeQuote returns the index of the quote closing the one at i on the same line, or -1.
func (s *scanner) closeQuote(i int) int {
	q := s.d[i]
	for j := i + 1; j < len(s.d); j++ {
		switch c := s.d[j]; {
		case c == '\n' || c == '\r':
			return -1
		case c == '\\' && q == '"':
			j++
		case c == q:
			if q == '\'' && s.at(j+1) == '\'' {
				j++
				continue
			}
			return j
		}
	}
	return -1
}

// key reads an implicit key at p and moves p past its ':'.
func (s *scanner) key() string {
	d, i := s.d, s.p
	switch c := d[i]; c {
	case '"', '\'':
		j := s.closeQuote(i)
		if j < 0 {
			s.unsupported("multi-line key")
			return ""
		}
		s.p = i
		k := s.unquote(-1)
		for j++; isBlank(s.at(j)); j++ {
		}
		if s.at(j) != ':' || !(isBlank(s.at(j+1)) || s.isBreak(j+1)) {
			s.unsupported("expected ':' after key")
			return ""
		}
		s.p = j + 1
		return k
	case '?', ':', '&', '*', '!', '|', '>', '%', '@', '`', '[', ']', '{', '}', ',', '-', '#':
		if c != '-' || s.isSeqItem() {
			s.unsupported("expected a mapping key, found %q", c)
			return ""
		}
	}
	e := s.eol(i)
	for k := i; k < e; k++ {
		if d[k] == '#' && isBlank(d[k-1]) {
			break
		}
		if d[k] == ':' && (k+1 == e || isBlank(d[k+1])) {
			if k-i > 1024 {
				s.unsupported("key over 1024 bytes")
				return ""
			}
			j := k
			for j > i && isBlank(d[j-1]) {
				j--
			}
			s.p = k + 1
			if string(d[i:j]) == "<<" {
				s.unsupported("merge key")
				return ""
			}
			return view(d[i:j])
		}
	}
	s.unsupported("expected a mapping key")
	return ""
}

// value reads the node after an indicator; col is the column of the enclosing block
// (mapping keys or sequence dashes). item is true after "- ", where compact nested
// collections may start on the same line.
func (s *scanner) value(col int, item bool) val {
	if s.inline() {
		ind := s.col()
		if s.isSeqItem() {
			if !item {
				s.unsupported("sequence on a key's line")
			}
			return val{k: kSeq, ind: ind}
		}
		if s.isKey() {
			if !item {
				s.unsupported("mapping on a key's line")
			}
			return val{k: kMap, ind: ind}
		}
		return s.scalar(col)
	}
	ind := s.content()
	switch {
	case ind < 0:
	case ind > col && s.isSeqItem(), ind == col && !item && s.isSeqItem():
		return val{k: kSeq, ind: ind}
	case ind > col && s.isKey():
		return val{k: kMap, ind: ind}
	case ind > col:
		return s.scalar(col)
	}
	return val{k: kNull}
}

// skip discards a value returned by value.
func (s *scanner) skip(v val) {
	if v.k != kSeq && v.k != kMap {
		return
	}
	d := s.discard
	s.discard = true
	if v.k == kMap {
		s.skipMap(v.ind)
	} else {
		s.seq(v.ind, func() { s.skip(s.value(v.ind, true)) })
	}
	s.discard = d
}

func (s *scanner) skipMap(ind int) {
	s.mapping(ind, func(string) { s.skip(s.value(ind, false)) })
}

// mapping runs fn for each key of the block mapping at column ind, p on its first key;
// fn must consume the value. It returns with p at the first line after the mapping.
func (s *scanner) mapping(ind int, fn func(key string)) {
	for s.err == nil {
		k := s.key()
		if s.err != nil {
			return
		}
		fn(k)
		next := s.content()
		if next < ind {
			return
		}
		if next > ind || s.isSeqItem() {
			s.unsupported("unexpected indentation or sequence in a mapping")
			return
		}
	}
}

// seq runs fn for each item of the block sequence whose dashes are at column ind, p on
// the first dash and, when fn runs, just past it.
func (s *scanner) seq(ind int, fn func()) {
	for s.err == nil {
		s.p++
		fn()
		next := s.content()
		if next < ind || s.err != nil {
			return
		}
		if next > ind {
			s.unsupported("unexpected indentation in a sequence")
			return
		}
		if !s.isSeqItem() {
			return // an indentless sequence ends at its parent's next key
		}
	}
}
