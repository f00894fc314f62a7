package jobview

import (
	"bytes"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/schemas"
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

func TestAnEarlierStageReadLateIsNotShown(t *testing.T) {
	ev := func(attempt int, typ schemas.EventType, reason string) schemas.JobEvent {
		return schemas.JobEvent{Schema: schemas.JobEventV1, JobID: "01JD", Attempt: attempt, Type: typ, TaskID: "t-1", Reason: reason}
	}
	var out, errOut bytes.Buffer
	p := New(&out, &errOut)
	p.Event(ev(1, schemas.EventAccepted, ""))
	p.Event(ev(1, schemas.EventStarted, ""))
	// The gatekeeper's queued event, delivered after the worker's start.
	p.Event(ev(1, schemas.EventQueued, "waiting for a worker in lane default"))
	// A retry starts over: its queued event is news.
	p.Event(ev(2, schemas.EventQueued, "waiting for a worker in lane retry"))
	p.Close()
	got := errOut.String()
	if strings.Contains(got, "lane default") {
		t.Errorf("the first attempt's queued event was shown after it started:\n%s", got)
	}
	if !strings.Contains(got, "started task t-1") || !strings.Contains(got, "lane retry") {
		t.Errorf("want the start and the retry's queued event:\n%s", got)
	}

	// JSON keeps every event, as delivered.
	out.Reset()
	p = New(&out, &errOut)
	p.Dialect = JSON
	p.Event(ev(1, schemas.EventStarted, ""))
	p.Event(ev(1, schemas.EventQueued, "waiting for a worker in lane default"))
	p.Close()
	if !strings.Contains(out.String(), "lane default") {
		t.Errorf("JSON left out the late queued event:\n%s", out.String())
	}
}
