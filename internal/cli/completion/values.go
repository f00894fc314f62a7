package completion

import (
	"regexp"
	"regexp/syntax"
	"slices"
)

// Bounds of what Values enumerates.
const (
	maxValues     = 64
	maxValueBytes = 128
)

// Values returns the values a restricted_options_regex pattern admits
// (matched against the whole value, as the gatekeeper does), when they
// are a few plain words: a finite language of at most maxValues strings
// ("plan|apply", "^(?:plan|plan-all)$", "v[12]"), each made of letters,
// digits and ._/:@+,=- and not starting with '-'. Otherwise (a pattern
// that admits a whole family of values, "[0-9a-f]{40}" say, or one that
// cannot be read) it returns nil: offering some of the values of an open
// pattern would suggest they are the only ones. Every value returned
// matches the pattern.
func Values(expr string) []string {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	whole, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return nil
	}
	// lang is a superset of the language (assertions read as always
	// true); whole filters it down to what the gatekeeper admits.
	lang, ok := language(re.Simplify())
	if !ok {
		return nil
	}
	var out []string
	for _, v := range lang {
		if !whole.MatchString(v) {
			continue
		}
		if !plainValue(v) {
			return nil
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// plainValue reports whether v can be offered as it is to every shell.
func plainValue(v string) bool {
	if v == "" || len(v) > maxValueBytes || v[0] == '-' {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == '/', c == ':', c == '@', c == '+', c == ',', c == '=', c == '-':
		default:
			return false
		}
	}
	return true
}

// language returns every string re matches, reading assertions (^, $,
// \b) as always true, when that set is finite and small; ok is false
// otherwise.
func language(re *syntax.Regexp) (out []string, ok bool) {
	switch re.Op {
	case syntax.OpNoMatch:
		return nil, true
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return []string{""}, true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil, false
		}
		return []string{string(re.Rune)}, true
	case syntax.OpCharClass:
		var n int
		for i := 0; i+1 < len(re.Rune); i += 2 {
			n += int(re.Rune[i+1]-re.Rune[i]) + 1
			if n > maxValues {
				return nil, false
			}
		}
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				out = append(out, string(r))
			}
		}
		return out, true
	case syntax.OpCapture:
		return language(re.Sub[0])
	case syntax.OpConcat:
		out = []string{""}
		for _, sub := range re.Sub {
			l, ok := language(sub)
			if !ok {
				return nil, false
			}
			if out, ok = product(out, l); !ok {
				return nil, false
			}
		}
		return out, true
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			l, ok := language(sub)
			if !ok || len(out)+len(l) > maxValues {
				return nil, false
			}
			out = append(out, l...)
		}
		return out, true
	case syntax.OpQuest:
		l, ok := language(re.Sub[0])
		if !ok || len(l) >= maxValues {
			return nil, false
		}
		return append([]string{""}, l...), true
	case syntax.OpStar, syntax.OpPlus:
		// Finite only when what repeats is empty.
		l, ok := language(re.Sub[0])
		if !ok || slices.ContainsFunc(l, func(s string) bool { return s != "" }) {
			return nil, false
		}
		return []string{""}, true
	case syntax.OpRepeat:
		if re.Max < 0 || re.Max > maxValueBytes {
			return nil, false
		}
		l, ok := language(re.Sub[0])
		if !ok {
			return nil, false
		}
		power := []string{""}
		for i := 0; i < re.Min; i++ {
			if power, ok = product(power, l); !ok {
				return nil, false
			}
		}
		out = append(out, power...)
		for i := re.Min; i < re.Max; i++ {
			if power, ok = product(power, l); !ok || len(out)+len(power) > maxValues {
				return nil, false
			}
			out = append(out, power...)
		}
		return out, true
	}
	// Any character, and whatever else: not a few plain values.
	return nil, false
}

// product concatenates every string of a with every string of b, or
// reports that there would be too many.
func product(a, b []string) ([]string, bool) {
	if len(a)*len(b) > maxValues {
		return nil, false
	}
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			if len(x)+len(y) > maxValueBytes {
				return nil, false
			}
			out = append(out, x+y)
		}
	}
	return out, true
}
