package local

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestValidTaskIDIsItsExpression holds validTaskID to the expression it
// replaces, on near misses and on random strings around its bounds.
func TestValidTaskIDIsItsExpression(t *testing.T) {
	re := regexp.MustCompile(`^lt-[0-9A-Za-z-]{1,64}-[0-9]{1,9}$`)
	job := "01ARZ3NDEKTSV4RRFFQ69G5FAV"
	cases := []string{"", "lt-", "lt--1", "lt-a-", "lt-a-1", "lt--a-1", "lt-a--1", "lt-a-1-", "lt-a-1a", "Lt-a-1", "lt-a_b-1", "lt-é-1",
		TaskID(job, 1), TaskID(job+"-r2", 3), TaskID(job, 123456789), TaskID(job, 1234567890),
		"lt-" + strings.Repeat("a", 64) + "-1", "lt-" + strings.Repeat("a", 65) + "-1", "lt-" + strings.Repeat("a", 63) + "--1"}
	rng := rand.New(rand.NewPCG(1, 2))
	const jobBytes, bad = "a9Z-", "_ .\n\xff"
	for range 20000 { // random lengths around the bounds, one bad byte in a third of them
		b := []byte("lt-")
		for range rng.IntN(67) {
			b = append(b, jobBytes[rng.IntN(len(jobBytes))])
		}
		b = append(b, '-')
		for range rng.IntN(11) {
			b = append(b, byte('0'+rng.IntN(10)))
		}
		if rng.IntN(3) == 0 {
			b[rng.IntN(len(b))] = bad[rng.IntN(len(bad))]
		}
		cases = append(cases, string(b))
	}
	matched := 0
	for _, s := range cases {
		got, want := validTaskID(s), re.MatchString(s)
		if want {
			matched++
		}
		if got != want {
			t.Errorf("validTaskID(%q) = %v, %s says %v", s, got, re, want)
		}
	}
	if matched < len(cases)/10 || matched > len(cases)*9/10 {
		t.Errorf("%d of %d cases match: the generator should make both kinds", matched, len(cases))
	}
}
