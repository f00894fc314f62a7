package iamcheck

import "strings"

// IAM patterns: '*' matches any run of characters (none included), '?'
// exactly one; every other character matches itself. In the resource of
// a request (the second pattern of includes and intersects) a wildcard
// stands for part of a name and matches no ':' ("…:d-job-*" is every job
// stream, not "…:d-job-:d-runs-x"); in a policy it matches anything. Resources and ARNs
// compare case-sensitively, actions case-insensitively (the callers fold
// them). The three functions below walk the patterns as runes, with no
// regexp and no backtracking blow-up: matchGlob is linear in practice,
// includes and intersects are O(len(p)·len(r)) dynamic programs.

// matchGlob reports whether the string s matches the pattern p.
func matchGlob(p, s string) bool {
	pr, sr := []rune(p), []rune(s)
	var i, j int
	star, mark := -1, 0
	for j < len(sr) {
		switch {
		case i < len(pr) && (pr[i] == '?' || pr[i] == sr[j]):
			i++
			j++
		case i < len(pr) && pr[i] == '*':
			star, mark = i, j
			i++
		case star >= 0:
			// The last star takes one more character.
			mark++
			i, j = star+1, mark
		default:
			return false
		}
	}
	for i < len(pr) && pr[i] == '*' {
		i++
	}
	return i == len(pr)
}

// canonical rewrites every run of wildcards as its '?'s followed by one
// '*' when it had any: the same set of strings, in the form includes can
// compare.
func canonical(p string) []rune {
	var out []rune
	rs := []rune(p)
	for i := 0; i < len(rs); {
		if rs[i] != '*' && rs[i] != '?' {
			out = append(out, rs[i])
			i++
			continue
		}
		star := false
		for ; i < len(rs) && (rs[i] == '*' || rs[i] == '?'); i++ {
			if rs[i] == '*' {
				star = true
			} else {
				out = append(out, '?')
			}
		}
		if star {
			out = append(out, '*')
		}
	}
	return out
}

// includes reports whether every string the pattern r matches is matched
// by the pattern p. It is sound (true only when the inclusion holds);
// for the patterns policies use it is also exact. A '*' of r can only
// be covered by a '*' of p, a '?' of r by a '?' or a '*'.
func includes(p, r string) bool {
	if !strings.ContainsAny(r, "*?") {
		return matchGlob(p, r)
	}
	pr, rr := canonical(p), canonical(r)
	// next[j] is includes(p[i+1:], r[j:]); cur[j] is includes(p[i:], r[j:]).
	next := make([]bool, len(rr)+1)
	cur := make([]bool, len(rr)+1)
	next[len(rr)] = true
	for i := len(pr) - 1; i >= 0; i-- {
		for j := len(rr); j >= 0; j-- {
			switch {
			case pr[i] == '*':
				cur[j] = next[j] || (j < len(rr) && cur[j+1])
			case j == len(rr) || rr[j] == '*':
				cur[j] = false
			case pr[i] == '?':
				cur[j] = next[j+1]
			default:
				cur[j] = rr[j] == pr[i] && next[j+1]
			}
		}
		next, cur = cur, next
	}
	return next[0]
}

// intersects reports whether some string is matched by both patterns,
// the wildcards of r matching no ':'.
func intersects(p, r string) bool {
	pr, rr := []rune(p), []rune(r)
	// e[i][j]: p[i:] and r[j:] share a string; rows of i, from the end.
	next := make([]bool, len(rr)+1) // i+1
	cur := make([]bool, len(rr)+1)  // i
	// Row i = len(p): only stars remain in r.
	next[len(rr)] = true
	for j := len(rr) - 1; j >= 0; j-- {
		next[j] = rr[j] == '*' && next[j+1]
	}
	for i := len(pr) - 1; i >= 0; i-- {
		cur[len(rr)] = pr[i] == '*' && next[len(rr)]
		for j := len(rr) - 1; j >= 0; j-- {
			switch {
			case pr[i] == '*':
				cur[j] = next[j] || cur[j+1]
			case rr[j] == '*':
				cur[j] = cur[j+1] || (pr[i] != ':' && next[j])
			case rr[j] == '?':
				cur[j] = pr[i] != ':' && next[j+1]
			case pr[i] == '?' || pr[i] == rr[j]:
				cur[j] = next[j+1]
			default:
				cur[j] = false
			}
		}
		next, cur = cur, next
	}
	return next[0]
}
