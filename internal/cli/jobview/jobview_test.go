package jobview

import (
	"bytes"
	"strings"
	"testing"
)

func TestCommandShowsArgumentsHarmlessAndShort(t *testing.T) {
	big := strings.Repeat("é", 50_000) // 100,000 bytes, cut inside no rune
	for _, tc := range []struct {
		name string
		argv []string
		want string
	}{
		{"plain", []string{"--ref", "main"}, "plan --ref main"},
		{"quoted", []string{"a b", "it's"}, `plan 'a b' 'it'\''s'`},
		{"escape sequences", []string{"\x1b]0;pwned\x07", "\x1b[2J"}, `plan '\x1b]0;pwned\a' '\x1b[2J'`},
		{"line breaks", []string{"one\rtwo\nthree"}, `plan 'one\rtwo\nthree'`},
		{"long", []string{big}, "plan " + strings.Repeat("é", 100) + "…[100000 bytes]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Command("plan", tc.argv); got != tc.want {
				t.Errorf("Command = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStatusLinesAreOnePrintableLine(t *testing.T) {
	var out, errOut bytes.Buffer
	p := New(&out, &errOut)
	p.Name = "deployer"
	p.Status("job %s submitted: %s %s", "01JD", "demo\x1b[1A", Command("plan", []string{"x\ny"}))
	const want = `deployer: job 01JD submitted: demo\x1b[1A plan 'x\ny'` + "\n"
	if got := errOut.String(); got != want {
		t.Errorf("status line %q, want %q", got, want)
	}
}
