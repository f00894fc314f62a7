package producer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/internal/tasklog"
	"github.com/deployerhq/deployer/schemas"
)

const jobID = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"

// scripted is a stream that delivers prepared batches, one per Next.
type scripted struct {
	mu      sync.Mutex
	batches [][]schemas.JobEvent
	deleted bool
}

func (s *scripted) Create(context.Context, string, time.Duration) (string, error) { return "s", nil }
func (s *scripted) Publish(context.Context, string, ...schemas.JobEvent) error    { return nil }
func (s *scripted) Delete(context.Context, string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleted = true
	return nil
}
func (s *scripted) DeleteExpired(context.Context, time.Time) (int, error) { return 0, nil }
func (s *scripted) Subscribe(context.Context, string) (stream.Subscription, error) {
	return s, nil
}
func (s *scripted) Next(ctx context.Context, wait time.Duration) ([]schemas.JobEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.batches) == 0 {
		return nil, nil
	}
	b := s.batches[0]
	s.batches = s.batches[1:]
	return b, nil
}
func (s *scripted) Close() error { return nil }

// source is a task log holding n lines.
type source struct {
	taskID string
	lines  []schemas.LogLine
	reads  int
}

func (s *source) Read(_ context.Context, taskID string, after int64, limit int) ([]schemas.LogLine, error) {
	s.reads++
	if taskID != s.taskID {
		return nil, tasklog.ErrNotFound
	}
	var out []schemas.LogLine
	for _, l := range s.lines {
		if l.Seq > after && len(out) < limit {
			out = append(out, l)
		}
	}
	return out, nil
}

func lines(n int) []schemas.LogLine {
	out := make([]schemas.LogLine, n)
	for i := range out {
		out[i] = schemas.LogLine{Seq: int64(i + 1), Text: fmt.Sprintf("line %d", i+1)}
	}
	return out
}

func ev(id string, t schemas.EventType) schemas.JobEvent {
	return schemas.JobEvent{Schema: schemas.JobEventV1, JobID: jobID, ID: id, Type: t, Attempt: 1, TaskID: "task-1"}
}

func logEvent(ls ...schemas.LogLine) schemas.JobEvent {
	e := ev(fmt.Sprintf("log:%d-%d", ls[0].Seq, ls[len(ls)-1].Seq), schemas.EventLog)
	e.Lines = ls
	return e
}

func finished(exit int, n int64) schemas.JobEvent {
	e := ev("worker:1:finished", schemas.EventFinished)
	e.Outcome = schemas.OutcomeSucceeded
	if exit != 0 {
		e.Outcome = schemas.OutcomeFailed
	}
	e.ExitCode, e.LogEvents = &exit, &n
	return e
}

func follow(t *testing.T, st *scripted, src *source, del bool) ([]string, []schemas.EventType, FollowResult) {
	t.Helper()
	c := &Client{Streams: st, Logs: src, DeleteStreams: del}
	var got []string
	var types []schemas.EventType
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Follow(ctx, Job{ID: jobID, Stream: "s"}, FollowOptions{
		OnLine:    func(_ int, l schemas.LogLine) { got = append(got, l.Text) },
		OnEvent:   func(e schemas.JobEvent) { types = append(types, e.Type) },
		PollWait:  time.Millisecond,
		GapWait:   time.Hour, // gaps are filled only after the terminal event here
		DrainWait: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, types, res
}

func expectLines(t *testing.T, got []string, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("got %d lines, want %d", len(got), n)
	}
	for i, l := range got {
		if want := fmt.Sprintf("line %d", i+1); l != want {
			t.Fatalf("line %d is %q, want %q", i+1, l, want)
		}
	}
}

func TestFollowDeliversEachLineOnceInOrderDespiteDuplicatesAndReordering(t *testing.T) {
	all := lines(1000)
	var events []schemas.JobEvent
	for i := 0; i < len(all); i += 37 {
		events = append(events, logEvent(all[i:min(i+37, len(all))]...))
	}
	// Every log event twice, in a random order, then the terminal event.
	events = append(events, events...)
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	st := &scripted{}
	st.batches = append(st.batches, []schemas.JobEvent{ev("worker:1:started", schemas.EventStarted)})
	for i := 0; i < len(events); i += 3 {
		st.batches = append(st.batches, events[i:min(i+3, len(events))])
	}
	st.batches = append(st.batches, []schemas.JobEvent{finished(0, 1000), finished(0, 1000)})

	src := &source{taskID: "task-1"}
	got, types, res := follow(t, st, src, false)
	expectLines(t, got, 1000)
	if res.Missing != 0 || ExitCode(res.Terminal) != 0 {
		t.Errorf("result %+v", res)
	}
	if want := []schemas.EventType{schemas.EventStarted, schemas.EventFinished}; fmt.Sprint(types) != fmt.Sprint(want) {
		t.Errorf("events %v, want %v (each once, terminal last)", types, want)
	}
	if src.reads != 0 {
		t.Errorf("read the task log %d times although the stream had every line", src.reads)
	}
}

func TestFollowFillsGapsFromTheTaskLogAfterTheTerminalEvent(t *testing.T) {
	all := lines(250)
	st := &scripted{batches: [][]schemas.JobEvent{
		{ev("worker:1:started", schemas.EventStarted)},
		{logEvent(all[0:50]...)},
		{logEvent(all[120:200]...)}, // 51..120 and 201..250 never arrive
		{finished(3, 250)},
	}}
	got, _, res := follow(t, st, &source{taskID: "task-1", lines: all}, true)
	expectLines(t, got, 250)
	if res.Missing != 0 || ExitCode(res.Terminal) != 3 {
		t.Errorf("result missing=%d exit=%d", res.Missing, ExitCode(res.Terminal))
	}
	if !st.deleted {
		t.Error("stream not deleted after the terminal event with DeleteStreams set")
	}
}

func TestFollowReportsLinesThatNeverArrive(t *testing.T) {
	all := lines(10)
	st := &scripted{batches: [][]schemas.JobEvent{
		{ev("worker:1:started", schemas.EventStarted), logEvent(all[:5]...)},
		{finished(0, 12)}, // promises two lines nobody has
	}}
	got, _, res := follow(t, st, &source{taskID: "task-1", lines: all}, false)
	expectLines(t, got, 10)
	if res.Missing != 2 {
		t.Errorf("missing = %d, want 2", res.Missing)
	}
}

func TestFollowGivesUpWhenTheContextEnds(t *testing.T) {
	c := &Client{Streams: &scripted{}, Logs: &source{}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Follow(ctx, Job{ID: jobID, Stream: "s"}, FollowOptions{PollWait: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("err = %v, want context canceled", err)
	}
}

func TestExitCodes(t *testing.T) {
	code := func(o schemas.Outcome, exit *int) int {
		return ExitCode(schemas.JobEvent{Outcome: o, ExitCode: exit})
	}
	n := func(i int) *int { return &i }
	cases := []struct {
		got, want int
	}{
		{code(schemas.OutcomeSucceeded, n(0)), 0},
		{code(schemas.OutcomeFailed, n(42)), 42},
		{code(schemas.OutcomeFailed, n(0)), 1},
		{code(schemas.OutcomeFailed, n(300)), 1},
		{code(schemas.OutcomeFailed, nil), 1},
		{code(schemas.OutcomeRejected, nil), 77},
		{code(schemas.OutcomeTimedOut, n(137)), 124},
		{code(schemas.OutcomeCancelled, nil), 130},
		{code(schemas.OutcomeCouldNotStart, nil), 69},
		{code(schemas.OutcomeLost, nil), 75},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d: exit code %d, want %d", i, c.got, c.want)
		}
	}
}

// An ECS task cannot say how many lines it wrote, and CloudWatch
// subscription deliveries carry event ids but no seq: the follower prints
// what the stream brought, then reads the rest from the task log source
// after the terminal event, without printing the head twice.
func TestFollowUncountedFillsTheTailFromTheSourceOnce(t *testing.T) {
	all := lines(50)
	var head []schemas.LogLine
	for _, l := range all[:30] {
		head = append(head, schemas.LogLine{ID: fmt.Sprintf("cw-%d", l.Seq), Text: l.Text})
	}
	e := ev("log:cw-1-cw-30", schemas.EventLog)
	e.Lines = head
	term := finished(0, 0)
	term.LogEvents = nil
	st := &scripted{batches: [][]schemas.JobEvent{
		{ev("worker:1:started", schemas.EventStarted)},
		{e, e}, // delivered twice
		{term},
	}}
	src := &source{taskID: "task-1", lines: all}
	c := &Client{Streams: st, Logs: src}
	var got []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Follow(ctx, Job{ID: jobID, Stream: "s"}, FollowOptions{
		OnLine:    func(_ int, l schemas.LogLine) { got = append(got, l.Text) },
		PollWait:  time.Millisecond,
		GapWait:   time.Hour,
		QuietWait: 50 * time.Millisecond,
		DrainWait: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	expectLines(t, got, 50)
	if res.Missing != 0 || src.reads == 0 {
		t.Fatalf("result %+v after %d source reads", res, src.reads)
	}
}

// CloudWatch subscription deliveries carry no seq and may arrive out of
// order: lines are held briefly and printed by time, then event id.
func TestFollowOrdersUnsequencedDeliveries(t *testing.T) {
	base := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	line := func(i int) schemas.LogLine {
		// Ids as CloudWatch makes them: decimal strings of one length
		// within a stream, here with the same millisecond for 2 and 3.
		return schemas.LogLine{ID: fmt.Sprintf("3729%04d", i), Time: base.Add(time.Duration(i/2) * time.Millisecond), Text: fmt.Sprintf("line %d", i)}
	}
	delivery := func(id string, from, to int) schemas.JobEvent {
		e := ev(id, schemas.EventLog)
		for i := from; i <= to; i++ {
			e.Lines = append(e.Lines, line(i))
		}
		return e
	}
	term := finished(0, 0)
	term.LogEvents = nil
	st := &scripted{batches: [][]schemas.JobEvent{
		{ev("worker:1:started", schemas.EventStarted)},
		{delivery("d3", 7, 9)},
		{delivery("d1", 1, 3), delivery("d2", 4, 6)},
		{delivery("d1", 1, 3)}, // redelivered
		{term},
	}}
	src := &source{taskID: "task-1"}
	for i := 1; i <= 9; i++ {
		l := line(i)
		l.Seq, l.ID = int64(i), ""
		src.lines = append(src.lines, l)
	}
	c := &Client{Streams: st, Logs: src}
	var got []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Follow(ctx, Job{ID: jobID, Stream: "s"}, FollowOptions{
		OnLine:          func(_ int, l schemas.LogLine) { got = append(got, l.Text) },
		PollWait:        time.Millisecond,
		GapWait:         time.Hour,
		QuietWait:       50 * time.Millisecond,
		HoldUnsequenced: time.Hour, // everything arrives within the hold
		DrainWait:       5 * time.Second,
	}); err != nil {
		t.Fatal(err)
	}
	expectLines(t, got, 9)
}
