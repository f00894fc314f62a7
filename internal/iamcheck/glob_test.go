package iamcheck

import (
	"slices"
	"strings"
	"testing"
)

func TestMatchGlob(t *testing.T) {
	for _, tt := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"*", "anything:at/all", true},
		{"", "", true},
		{"", "a", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a*c", "ac", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"arn:aws:sqs:*:*:d-job-*", "arn:aws:sqs:us-east-1:123456789012:d-job-01J", true},
		{"arn:aws:sqs:*:*:d-job-*", "arn:aws:sqs:us-east-1:123456789012:d-jobs", false},
		{"*a*b*", "xxaxxbxx", true},
		{"*a*b*", "xxbxxaxx", false},
		{"é?", "éü", true}, // runes, not bytes
		{"a**b", "ab", true},
		{"Abc", "abc", false}, // case-sensitive: callers fold actions
	} {
		if got := matchGlob(tt.p, tt.s); got != tt.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", tt.p, tt.s, got, tt.want)
		}
	}
}

func TestIncludes(t *testing.T) {
	for _, tt := range []struct {
		p, r string
		want bool
	}{
		{"arn:aws:sqs:r:a:d-job-*", "arn:aws:sqs:r:a:d-job-*", true},
		{"arn:aws:sqs:r:a:*", "arn:aws:sqs:r:a:d-job-*", true},
		{"*", "arn:aws:sqs:r:a:d-job-*", true},
		{"arn:aws:sqs:*:*:d-*", "arn:aws:sqs:r:a:d-job-*", true},
		{"arn:aws:sqs:r:a:d-job-0*", "arn:aws:sqs:r:a:d-job-*", false}, // narrower than the family
		{"arn:aws:sqs:r:a:d-job-?", "arn:aws:sqs:r:a:d-job-*", false},
		{"arn:aws:sqs:r:a:d-job-x", "arn:aws:sqs:r:a:d-job-x", true},
		{"a?*", "a*?", true}, // the same set, written two ways
		{"a*?", "a?*", true},
		{"a*", "a?", true},
		{"a?", "a*", false},
		{"a*b", "a*?b", true},
		{"a?b", "a*b", false},
		{"ab", "a*b", false},
		{"log-group:/d-jobs:*", "log-group:/d-jobs:log-stream:*", true},
		{"log-group:/d-jobs", "log-group:/d-jobs:log-stream:*", false},
	} {
		if got := includes(tt.p, tt.r); got != tt.want {
			t.Errorf("includes(%q, %q) = %v, want %v", tt.p, tt.r, got, tt.want)
		}
	}
}

func TestIntersects(t *testing.T) {
	for _, tt := range []struct {
		p, r string
		want bool
	}{
		{"a*", "*b", true},  // "ab"
		{"a*", "b*", false}, // first letters differ
		{"*x*", "d-job-*", true},
		{"d-job-0*", "d-job-*", true},
		{"d-runs-*", "d-job-*", false},
		{"?", "*", true},
		{"??", "a", false},
		{"", "*", true},
		{"", "?", false},
		{"a*c", "ab*", true},
		{"abc", "abc", true},
		{"abc", "abd", false},
	} {
		if got := intersects(tt.p, tt.r); got != tt.want {
			t.Errorf("intersects(%q, %q) = %v, want %v", tt.p, tt.r, got, tt.want)
		}
		if got := intersects(tt.r, tt.p); got != tt.want {
			t.Errorf("intersects(%q, %q) = %v, want %v (not symmetric)", tt.r, tt.p, got, tt.want)
		}
	}
}

// expand returns strings pattern r matches, over the alphabet of the
// patterns: each '*' as "", one and two characters, each '?' as one;
// never ':', which the wildcards of a request's resource do not match.
func expand(r string, alphabet []rune, limit int) []string {
	out := []string{""}
	for _, c := range r {
		var next []string
		alphabet := slices.DeleteFunc(slices.Clone(alphabet), func(r rune) bool { return r == ':' })
		for _, prefix := range out {
			switch c {
			case '*':
				next = append(next, prefix)
				for _, a := range alphabet {
					next = append(next, prefix+string(a))
					for _, b := range alphabet {
						next = append(next, prefix+string(a)+string(b))
					}
				}
			case '?':
				for _, a := range alphabet {
					next = append(next, prefix+string(a))
				}
			default:
				next = append(next, prefix+string(c))
			}
			if len(next) > limit {
				next = next[:limit]
				break
			}
		}
		out = next
	}
	return out
}

// FuzzGlobs checks includes and intersects against matchGlob on strings
// the patterns match: includes(p, r) must never hold while some string
// of r escapes p (a permissive bug would let a policy pass that AWS
// refuses), and a string both match proves intersects.
func FuzzGlobs(f *testing.F) {
	f.Add("a*", "a?b")
	f.Add("arn:*:x", "arn:?*:x")
	f.Add("*?", "?*")
	f.Add("a*b*c", "a*c")
	f.Fuzz(func(t *testing.T, p, r string) {
		if len(p) > 12 || len(r) > 12 {
			return
		}
		alphabet := []rune("ab")
		for _, c := range p + r {
			if c != '*' && c != '?' && !strings.ContainsRune(string(alphabet), c) {
				alphabet = append(alphabet, c)
			}
		}
		if len(alphabet) > 4 {
			alphabet = alphabet[:4]
		}
		inc, inter := includes(p, r), intersects(p, r)
		for _, s := range expand(r, alphabet, 2000) {
			m := matchGlob(p, s)
			if inc && !m {
				t.Fatalf("includes(%q, %q) but %q matches only the second", p, r, s)
			}
			if m && !inter {
				t.Fatalf("%q matches both %q and %q, but intersects is false", s, p, r)
			}
		}
	})
}

// A request's wildcards stand for part of a name: they match no ':'.
func TestIntersectsResourceWildcards(t *testing.T) {
	for _, tt := range []struct {
		p, r string
		want bool
	}{
		{"arn:aws:sqs:*:*:d-runs-*", "arn:aws:sqs:r:a:d-job-*", false},
		{"arn:aws:sqs:*:*:d-job-*", "arn:aws:sqs:r:a:d-job-*", true},
		{"x:y", "x?y", false},
		{"x?y", "x?y", true},
		{"*", "a*", true},
	} {
		if got := intersects(tt.p, tt.r); got != tt.want {
			t.Errorf("intersects(%q, %q) = %v, want %v", tt.p, tt.r, got, tt.want)
		}
	}
}
