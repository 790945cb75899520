package index

import "fmt"

// entries reads the chart-name -> version-list mapping. Shape rules (shared with the
// JSON and slow paths): a null list is no versions, a non-list counts as one skipped
// entry, and every list item that is not a mapping is a skipped entry.
func (s *scanner) entries(b *builder, rootInd, line int) {
	v := s.value(rootInd, false)
	switch {
	case v.k == kNull, v.k == kFlow && !v.flowSeq:
		return
	case v.k != kMap:
		s.err = &Error{Line: line, Msg: "entries is not a mapping of chart names to version lists"}
		s.p = len(s.d)
		return
	}
	ind := v.ind
	seen := make(map[string]int, 256)
	s.mapping(ind, func(name string) {
		line := s.line
		if first, dup := seen[name]; dup {
			s.err = &Error{Line: line, Msg: fmt.Sprintf("chart %q is listed twice (first on line %d)", name, first)}
			s.p = len(s.d)
			return
		}
		seen[name] = line
		ch := rawChart{name: name, lo: len(b.vers)}
		cv := s.value(ind, false)
		switch {
		case cv.k == kNull:
		case cv.k == kFlow && cv.flowSeq:
			b.skipped += len(s.flow)
		case cv.k == kSeq:
			s.seq(cv.ind, func() {
				iv := s.value(cv.ind, true)
				switch {
				case iv.k == kMap:
					rv := rawVersion{off: s.p, line: s.line}
					s.version(b, &rv, nil)
					b.vers = append(b.vers, rv)
				case iv.k == kFlow && !iv.flowSeq:
					b.vers = append(b.vers, rawVersion{}) // {}: a version without a name
				default:
					b.skipped++
					s.skip(iv)
				}
			})
		default:
			b.skipped++
			s.skip(cv)
		}
		ch.hi = len(b.vers)
		b.charts = append(b.charts, ch)
	})
}

// version reads one version mapping at p. With m nil it collects the version fields
// into rv and skips the chart-level metadata; with m set (the meta pass, only for
// each chart's newest version) it does the opposite. Duplicate keys: the last wins;
// a version field whose last occurrence has the wrong shape makes the entry invalid.
func (s *scanner) version(b *builder, rv *rawVersion, m *rawMeta) {
	ind := s.col()
	s.mapping(ind, func(k string) {
		var dst *string
		fi := -1
		if m == nil {
			switch fi = fieldIndex(k); {
			case fi == urlsField:
				lo := len(b.urls)
				rv.setBad(fi, !s.list(ind, &b.urls))
				rv.urlLo, rv.urlHi = lo, len(b.urls)
				return
			case fi >= 0:
				dst = rv.field(fi)
			}
		} else {
			switch k {
			case "icon":
				dst = &m.icon
			case "home":
				dst = &m.home
			case "keywords", "sources":
				l := &m.keywords
				if k == "sources" {
					l = &m.sources
				}
				*l = nil
				if !s.list(ind, l) {
					*l = nil
				}
				return
			case "maintainers":
				s.maintainers(ind, m)
				return
			}
		}
		v := s.value(ind, false)
		if dst == nil {
			s.skip(v)
			return
		}
		*dst = v.s // "" for null and for the wrong shape
		if fi >= 0 {
			rv.setBad(fi, v.k != kScalar && v.k != kNull)
		}
		s.skip(v)
	})
}

// list appends a sequence of scalars (block or one-line flow; null is empty) and
// reports false when the value or an item has another shape.
func (s *scanner) list(ind int, dst *[]string) bool {
	v := s.value(ind, false)
	switch v.k {
	case kNull:
		return true
	case kFlow:
		*dst = append(*dst, s.flow...)
		return v.flowSeq
	case kSeq:
		ok := true
		s.seq(v.ind, func() {
			iv := s.value(v.ind, true)
			switch iv.k {
			case kScalar, kNull:
				*dst = append(*dst, iv.s)
			default:
				ok = false
				s.skip(iv)
			}
		})
		return ok
	}
	s.skip(v)
	return false
}

// maintainers reads the maintainer list; items that are not mappings are dropped.
func (s *scanner) maintainers(ind int, m *rawMeta) {
	m.maintainers = nil
	v := s.value(ind, false)
	if v.k != kSeq {
		s.skip(v)
		return
	}
	s.seq(v.ind, func() {
		iv := s.value(v.ind, true)
		switch {
		case iv.k == kFlow && !iv.flowSeq:
			m.maintainers = append(m.maintainers, Maintainer{})
			return
		case iv.k != kMap:
			s.skip(iv)
			return
		}
		var mt Maintainer
		s.mapping(iv.ind, func(k string) {
			var dst *string
			switch k {
			case "name":
				dst = &mt.Name
			case "email":
				dst = &mt.Email
			case "url":
				dst = &mt.URL
			}
			mv := s.value(iv.ind, false)
			if dst != nil {
				*dst = ""
				if mv.k == kScalar {
					*dst = mv.s
				}
			}
			s.skip(mv)
		})
		m.maintainers = append(m.maintainers, mt)
	})
}
