package producer_test

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/deployerhq/deployer/internal/embedded"
	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

var t0 = time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)

// jobAt returns a job id of a job submitted at t.
func jobAt(t time.Time) string { return ulid.MustNew(ulid.Timestamp(t), rand.Reader).String() }

// history builds a job's events: each step an event type, in order, with
// the attempt the step names ("started@2").
type step struct {
	typ     schemas.EventType
	attempt int
	outcome schemas.Outcome
}

func hist(jobID string, steps ...step) []schemas.JobEvent {
	var evs []schemas.JobEvent
	for i, s := range steps {
		ev := schemas.JobEvent{
			Schema: schemas.JobEventV1, JobID: jobID, ID: fmt.Sprintf("e%d", i), Time: t0.Add(time.Duration(i) * time.Second),
			Type: s.typ, Attempt: max(s.attempt, 1), Outcome: s.outcome, Source: "test",
		}
		switch s.typ {
		case schemas.EventAccepted:
			ev.Container, ev.Script, ev.Argv, ev.Lane, ev.LaneLimit, ev.Principal = "infra", "plan", []string{"-x"}, "ami", 3, "user:ci"
		case schemas.EventStarted:
			ev.TaskID = "task-1"
		case schemas.EventFinished:
			code := 0
			if s.outcome != schemas.OutcomeSucceeded {
				code = 2
			}
			ev.ExitCode = &code
		}
		if s.typ.Terminal() && ev.Outcome == "" {
			ev.Outcome = schemas.OutcomeSucceeded
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestSummarizeStates(t *testing.T) {
	acc, que := step{typ: schemas.EventAccepted}, step{typ: schemas.EventQueued}
	sting, sted := step{typ: schemas.EventStarting}, step{typ: schemas.EventStarted}
	hb := step{typ: schemas.EventHeartbeat}
	end := func(typ schemas.EventType, o schemas.Outcome) step { return step{typ: typ, outcome: o} }
	cases := []struct {
		name  string
		steps []step
		want  producer.JobState
	}{
		{"nothing", nil, producer.StateUnknown},
		{"accepted", []step{acc}, producer.StateQueued},
		{"queued", []step{acc, que}, producer.StateQueued},
		{"starting", []step{acc, que, sting}, producer.StateRunning},
		{"started", []step{acc, que, sting, sted, hb}, producer.StateRunning},
		{"queued journaled after starting", []step{acc, sting, que}, producer.StateRunning},
		{"succeeded", []step{acc, que, sting, sted, end(schemas.EventFinished, schemas.OutcomeSucceeded)}, producer.StateSucceeded},
		{"failed", []step{acc, que, sted, end(schemas.EventFinished, schemas.OutcomeFailed)}, producer.StateFailed},
		{"rejected", []step{end(schemas.EventRejected, schemas.OutcomeRejected)}, producer.StateRejected},
		{"timed out", []step{acc, sted, end(schemas.EventFailed, schemas.OutcomeTimedOut)}, producer.StateTimedOut},
		{"cancelled while queued", []step{acc, que, {typ: schemas.EventCancelRequested}, end(schemas.EventCancelled, schemas.OutcomeCancelled)}, producer.StateCancelled},
		{"could not start", []step{acc, sting, end(schemas.EventFailed, schemas.OutcomeCouldNotStart)}, producer.StateCouldNotStart},
		{"lost", []step{acc, sted, end(schemas.EventFailed, schemas.OutcomeLost)}, producer.StateLost},
		{"a heartbeat after the end", []step{acc, sted, end(schemas.EventFinished, schemas.OutcomeSucceeded), hb}, producer.StateSucceeded},
		{"retried: queued again", []step{acc, sted, {typ: schemas.EventQueued, attempt: 2}}, producer.StateQueued},
		{"replayed after failing", []step{acc, sted, end(schemas.EventFinished, schemas.OutcomeFailed),
			{typ: schemas.EventAccepted, attempt: 2}, {typ: schemas.EventStarted, attempt: 2}}, producer.StateRunning},
		{"a late event of an earlier attempt", []step{acc, sted, {typ: schemas.EventQueued, attempt: 2}, sting}, producer.StateQueued},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			job := jobAt(t0)
			s := producer.Summarize(hist(job, c.steps...))
			if s.State != c.want {
				t.Fatalf("state %q, want %q", s.State, c.want)
			}
			if len(c.steps) == 0 {
				return
			}
			if s.JobID != job || !s.Submitted.Equal(t0) {
				t.Fatalf("job %s submitted %s, want %s at %s", s.JobID, s.Submitted, job, t0)
			}
			if s.State.Ended() != (s.Outcome != "") || s.State.Ended() == s.Ended.IsZero() {
				t.Fatalf("state %s with outcome %q, ended %s", s.State, s.Outcome, s.Ended)
			}
		})
	}

	s := producer.Summarize(hist(jobAt(t0), acc, que, sting, sted, end(schemas.EventFinished, schemas.OutcomeFailed)))
	if s.Container != "infra" || s.Script != "plan" || !slices.Equal(s.Argv, []string{"-x"}) || s.Lane != "ami" ||
		s.LaneLimit != 3 || s.Principal != "user:ci" || s.TaskID != "task-1" || s.ExitCode == nil || *s.ExitCode != 2 ||
		!s.Started.Equal(t0.Add(3*time.Second)) || !s.Ended.Equal(t0.Add(4*time.Second)) {
		t.Fatalf("summary %+v", s)
	}
}

func TestOrdinal(t *testing.T) {
	for n, want := range map[int]string{1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th", 21: "21st", 102: "102nd", 111: "111th"} {
		if got := producer.Ordinal(n); got != want {
			t.Errorf("Ordinal(%d) = %q, want %q", n, got, want)
		}
	}
}

type fixture struct {
	b  *embedded.Backend
	c  *producer.Client
	t  *testing.T
	at time.Time // the next job's submission time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	b, err := embedded.Open(t.Context(), t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return &fixture{b: b, c: b.Client(), t: t, at: t0}
}

// job records a job submitted a second after the previous one, in lane
// ln of container ct, with the given steps (accepted first).
func (f *fixture) job(ct, ln string, steps ...step) string {
	f.t.Helper()
	return f.record(ct, ln, false, steps...)
}

// record records a job, a canary when canary is set.
func (f *fixture) record(ct, ln string, canary bool, steps ...step) string {
	f.t.Helper()
	f.at = f.at.Add(time.Second)
	id := jobAt(f.at)
	evs := hist(id, append([]step{{typ: schemas.EventAccepted}}, steps...)...)
	evs[0].Container, evs[0].Lane, evs[0].Canary = ct, ln, canary
	if err := f.b.Journal.Append(f.t.Context(), id, evs...); err != nil {
		f.t.Fatal(err)
	}
	return id
}

func ids(sums []producer.JobSummary) []string {
	out := make([]string, len(sums))
	for i, s := range sums {
		out[i] = s.JobID
	}
	return out
}

func TestJobsFilters(t *testing.T) {
	f := newFixture(t)
	q := step{typ: schemas.EventQueued}
	run := step{typ: schemas.EventStarted}
	ok := step{typ: schemas.EventFinished, outcome: schemas.OutcomeSucceeded}
	bad := step{typ: schemas.EventFinished, outcome: schemas.OutcomeFailed}
	a := f.job("infra", "ami", q)          // queued
	b := f.job("infra", "default", q, run) // running
	c := f.job("web", "default", q, run, ok)
	d := f.job("web", "ami", q, run, bad)
	e := f.job("infra", "ami", q, run, ok)
	// A batch: its own journal, which List must not take for a job.
	batch := schemas.BatchIDPrefix + jobAt(f.at)
	f.at = f.at.Add(time.Second)
	g := jobAt(f.at)
	evs := hist(g, step{typ: schemas.EventAccepted}, q)
	for i := range evs {
		evs[i].BatchID = batch
	}
	evs[0].Batch = &schemas.BatchSpec{Name: "m", Size: 2, Index: 1, Key: "os=al2023"}
	if err := journal.Record(t.Context(), f.b.Journal, g, batch, evs...); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		filter producer.JobFilter
		want   []string
	}{
		{"all", producer.JobFilter{}, []string{g, e, d, c, b, a}},
		{"limit", producer.JobFilter{Limit: 2}, []string{g, e}},
		{"queued", producer.JobFilter{States: []producer.JobState{producer.StateQueued}}, []string{g, a}},
		{"running or failed", producer.JobFilter{States: []producer.JobState{producer.StateRunning, producer.StateFailed}}, []string{d, b}},
		{"succeeded, limit 1", producer.JobFilter{States: []producer.JobState{producer.StateSucceeded}, Limit: 1}, []string{e}},
		{"container", producer.JobFilter{Container: "web"}, []string{d, c}},
		{"lane", producer.JobFilter{Lane: "ami"}, []string{g, e, d, a}},
		{"container and lane", producer.JobFilter{Container: "infra", Lane: "ami"}, []string{g, e, a}},
		{"since", producer.JobFilter{Since: t0.Add(4 * time.Second)}, []string{g, e, d}},
		{"since, scan bounded", producer.JobFilter{Since: t0.Add(2 * time.Second), Scan: 2}, []string{g, e}},
		{"batch", producer.JobFilter{BatchID: batch}, []string{g}},
		{"batch, other state", producer.JobFilter{BatchID: batch, States: []producer.JobState{producer.StateRunning}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.c.Jobs(t.Context(), tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), tc.want) {
				t.Fatalf("jobs %q, want %q", ids(got), tc.want)
			}
		})
	}
	got, err := f.c.Jobs(t.Context(), producer.JobFilter{BatchID: batch})
	if err != nil {
		t.Fatal(err)
	}
	if s := got[0]; s.BatchID != batch || s.BatchKey != "os=al2023" || s.State != producer.StateQueued || s.Container != "infra" {
		t.Fatalf("batch job %+v", s)
	}
	if _, err := f.c.Jobs(t.Context(), producer.JobFilter{BatchID: schemas.BatchIDPrefix + jobAt(t0)}); err == nil {
		t.Fatal("Jobs of an unknown batch: no error")
	}
}

func TestWaitReason(t *testing.T) {
	f := newFixture(t)
	q := step{typ: schemas.EventQueued}
	done := []step{q, {typ: schemas.EventStarted}, {typ: schemas.EventFinished, outcome: schemas.OutcomeSucceeded}}
	// Ahead of ours in lane ami: 6 queued jobs, among jobs of other lanes
	// and jobs that ran; behind it, 2 more.
	for i := range 6 {
		f.job("infra", "ami", q)
		f.job("infra", "default", q)
		if i%2 == 0 {
			f.job("infra", "ami", done...)
		}
	}
	// A queued canary takes no slot: it is not in line.
	canary := f.record("infra", "ami", true, q)
	ours := f.job("infra", "ami", q)
	f.job("infra", "ami", q)
	f.job("infra", "ami", q)
	for i := range 3 {
		if ok, err := f.b.Lanes.Acquire(t.Context(), "ami", 3, fmt.Sprintf("holder-%d", i), time.Hour); err != nil || !ok {
			t.Fatalf("Acquire: %v %v", ok, err)
		}
	}
	s, err := f.c.Job(t.Context(), ours)
	if err != nil {
		t.Fatal(err)
	}
	reason := func() string {
		t.Helper()
		r, err := f.c.WaitReason(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if got, want := reason(), "lane ami: 3 of 3 running, 7th in line"; got != want {
		t.Fatalf("full lane: %q, want %q", got, want)
	}
	for i := range 2 {
		if err := f.b.Lanes.Release(t.Context(), "ami", fmt.Sprintf("holder-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := reason(), "lane ami: 1 of 3 running; waiting for a worker to take it — is a pipeline serving?"; got != want {
		t.Fatalf("lane with room: %q, want %q", got, want)
	}
	// A canary waits for a worker only, whatever its lane.
	cs, err := f.c.Job(t.Context(), canary)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := f.c.WaitReason(t.Context(), cs); err != nil || !strings.HasPrefix(r, "a canary takes no lane slot") {
		t.Fatalf("canary: %q, %v", r, err)
	}
	// A job that is not queued waits for nothing.
	s.State = producer.StateRunning
	if got := reason(); got != "" {
		t.Fatalf("running job: %q, want none", got)
	}
}

// TestPositionUnknown: more jobs in the window before a queued job than
// WaitReason looks at leaves its place unknown rather than wrong.
func TestPositionUnknown(t *testing.T) {
	if testing.Short() {
		t.Skip("records a thousand jobs")
	}
	f := newFixture(t)
	f.at = time.Now().Add(-2 * time.Hour)
	for range producer.PositionScan + 1 {
		f.at = f.at.Add(time.Millisecond)
		f.job("infra", "default", step{typ: schemas.EventQueued})
	}
	ours := f.job("infra", "ami", step{typ: schemas.EventQueued})
	for i := range 3 {
		if _, err := f.b.Lanes.Acquire(t.Context(), "ami", 3, fmt.Sprintf("holder-%d", i), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	s, err := f.c.Job(t.Context(), ours)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.c.WaitReason(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if want := "lane ami: 3 of 3 running, position unknown"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}
