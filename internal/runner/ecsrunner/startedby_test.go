package ecsrunner

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestValidStartedByIsItsExpression holds validStartedBy to the expression
// it replaces, on near misses and on random strings around its bounds.
func TestValidStartedByIsItsExpression(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9_/-]{1,128}$`)
	cases := []string{"", "a", "A/b_c-9", "a b", "a.b", "é", "a\xff", "a\n", strings.Repeat("a", 128), strings.Repeat("a", 129)}
	rng := rand.New(rand.NewPCG(1, 2))
	const valid, invalid = "aZ09_/-", ". :\n\xff"
	for range 20000 { // random lengths around the bound, one bad byte in half of them
		b := make([]byte, rng.IntN(132))
		for i := range b {
			b[i] = valid[rng.IntN(len(valid))]
		}
		if len(b) > 0 && rng.IntN(2) == 0 {
			b[rng.IntN(len(b))] = invalid[rng.IntN(len(invalid))]
		}
		cases = append(cases, string(b))
	}
	matched := 0
	for _, s := range cases {
		got, want := validStartedBy(s), re.MatchString(s)
		if want {
			matched++
		}
		if got != want {
			t.Errorf("validStartedBy(%q) = %v, %s says %v", s, got, re, want)
		}
	}
	if matched < len(cases)/10 || matched > len(cases)*9/10 {
		t.Errorf("%d of %d cases match: the generator should make both kinds", matched, len(cases))
	}
}
