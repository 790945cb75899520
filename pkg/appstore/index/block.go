package index

// block reads a "|" or ">" block scalar (chomping and indentation indicators in either
// order), following the YAML library's folding and chomping exactly; col is the column
// of the enclosing block. It returns with p at the start of the first line after it.
func (s *scanner) block(col int) string {
	d := s.d
	literal := d[s.p] == '|'
	i := s.p + 1
	chomp, inc := byte(0), 0
	for k := 0; k < 2; k++ {
		c := s.at(i)
		if (c == '-' || c == '+') && chomp == 0 {
			chomp = c
		} else if c >= '1' && c <= '9' && inc == 0 {
			inc = int(c - '0')
		} else {
			break
		}
		i++
	}
	if !isBlank(s.at(i)) && !s.isBreak(i) {
		s.unsupported("block scalar header")
		return ""
	}
	s.p = i
	s.afterScalar()
	indent := 0
	if inc > 0 {
		indent = col + inc
	}
	out := s.buf[:0]
	trailing := 0
	s.blockBreaks(&indent, &trailing, col)
	leadingBreak, leadingBlank := false, false
	for s.err == nil && s.p < len(d) && s.col() == indent {
		trailingBlank := isBlank(d[s.p])
		if !literal && leadingBreak && !leadingBlank && !trailingBlank {
			if trailing == 0 {
				out = append(out, ' ')
			}
		} else if leadingBreak {
			out = append(out, '\n')
		}
		for ; trailing > 0; trailing-- {
			out = append(out, '\n')
		}
		leadingBlank = trailingBlank
		e := s.eol(s.p)
		if !s.discard {
			out = append(out, d[s.p:e]...)
		}
		s.p = e
		if e == len(d) {
			leadingBreak = false
			break
		}
		leadingBreak = true
		s.nextLine()
		s.blockBreaks(&indent, &trailing, col)
	}
	if s.err != nil {
		return ""
	}
	if chomp != '-' && leadingBreak {
		out = append(out, '\n')
	}
	if chomp == '+' {
		for ; trailing > 0; trailing-- {
			out = append(out, '\n')
		}
	}
	if s.p < len(d) {
		s.p = s.ls
	}
	return s.result(out)
}

// blockBreaks eats indentation and empty lines before a block scalar line, counting
// the breaks, and detects the indentation from the first content line when not given.
func (s *scanner) blockBreaks(indent, trailing *int, col int) {
	d := s.d
	maxInd := 0
	for {
		i := s.p
		for i < len(d) && d[i] == ' ' && (*indent == 0 || i-s.ls < *indent) {
			i++
		}
		c := i - s.ls
		if c > maxInd {
			maxInd = c
		}
		if i < len(d) && d[i] == '\t' && (*indent == 0 || c < *indent) {
			s.unsupported("tab in a block scalar's indentation")
			return
		}
		s.p = i
		if i >= len(d) || !s.isBreak(i) {
			break
		}
		*trailing++
		s.nextLine()
	}
	if *indent == 0 {
		*indent = max(maxInd, col+1, 1)
	}
}

// flowValue reads a flow collection that closes on its line: "[]", "{}", or a
// sequence of scalars; anything else is left to the slow path.
func (s *scanner) flowValue() val {
	d := s.d
	open := d[s.p]
	i := s.p + 1
	s.flow = s.flow[:0]
	skipBlanks := func() {
		for isBlank(s.at(i)) {
			i++
		}
	}
	skipBlanks()
	switch {
	case open == '{' && s.at(i) == '}', open == '[' && s.at(i) == ']':
		i++
	case open == '{':
		s.unsupported("flow mapping")
		return val{}
	default:
		for s.err == nil {
			var item string
			if c := s.at(i); c == '"' || c == '\'' {
				if s.closeQuote(i) < 0 {
					s.unsupported("multi-line flow sequence")
					return val{}
				}
				s.p = i
				item = s.unquote(0)
				i = s.p
			} else {
				k := i
				for k < len(d) && d[k] != ',' && d[k] != ']' && d[k] != '\n' && d[k] != '\r' {
					k++
				}
				b := d[i:k]
				for len(b) > 0 && isBlank(b[len(b)-1]) {
					b = b[:len(b)-1]
				}
				if !flowPlain(b) {
					s.unsupported("flow sequence item")
					return val{}
				}
				if !isNull(b) {
					item = view(b)
				}
				i = k
			}
			s.flow = append(s.flow, item)
			skipBlanks()
			if s.at(i) == ']' {
				i++
				break
			}
			if s.at(i) != ',' {
				s.unsupported("multi-line or nested flow sequence")
				return val{}
			}
			i++
			skipBlanks()
		}
	}
	s.p = i
	s.afterScalar()
	return val{k: kFlow, flowSeq: open == '['}
}

// flowPlain accepts the plain scalars that mean the same in flow and block context.
func flowPlain(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	switch b[0] {
	case '-', '?', ':', '&', '*', '!', '|', '>', '%', '@', '`':
		return false
	}
	for _, c := range b {
		switch c {
		case ':', '#', '[', ']', '{', '}', '"', '\'', '\t':
			return false
		}
	}
	return true
}
