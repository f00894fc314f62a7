package producer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/journal"
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
func (s *scripted) HiddenUntil() time.Time { return time.Time{} }
func (s *scripted) Close() error           { return nil }

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

// TestFollowShowsTheDeadLetterEvenWhenItsEventIsLate: SQS hides a message
// whose receive answer was lost, so the dead_lettered event may come after
// the terminal event or never; the terminal event says it, and the
// follower delivers one dead_lettered event before it either way.
func TestFollowShowsTheDeadLetterEvenWhenItsEventIsLate(t *testing.T) {
	dead := func() schemas.JobEvent {
		e := finished(3, 0)
		e.DeadLettered = true
		return e
	}
	dl := ev("worker:1:dead_lettered", schemas.EventDeadLettered)
	want := []schemas.EventType{schemas.EventStarted, schemas.EventDeadLettered, schemas.EventFinished}
	for name, batches := range map[string][][]schemas.JobEvent{
		"in order":           {{ev("worker:1:started", schemas.EventStarted)}, {dl}, {dead()}},
		"never":              {{ev("worker:1:started", schemas.EventStarted)}, {dead()}},
		"after the terminal": {{ev("worker:1:started", schemas.EventStarted)}, {dead()}, {dl}},
	} {
		t.Run(name, func(t *testing.T) {
			_, types, res := follow(t, &scripted{batches: batches}, &source{taskID: "task-1"}, false)
			if !slices.Equal(types, want) {
				t.Errorf("events %v, want %v", types, want)
			}
			if !res.Terminal.DeadLettered || ExitCode(res.Terminal) != 3 {
				t.Errorf("terminal event %+v", res.Terminal)
			}
		})
	}
	// A terminal event that does not say so brings no dead letter.
	_, types, _ := follow(t, &scripted{batches: [][]schemas.JobEvent{{finished(3, 0)}}}, &source{taskID: "task-1"}, false)
	if slices.Contains(types, schemas.EventDeadLettered) {
		t.Errorf("events %v: a dead letter the terminal event did not name", types)
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

// endRecord is the record deployer-task closes a log of n lines with.
func endRecord(n int64, exit int) schemas.LogLine {
	return schemas.LogLine{Seq: n + 1, End: &schemas.LogEnd{Lines: n, ExitCode: &exit}}
}

// ecsFinished is a terminal event of a task that cannot count its lines
// (ECS): the end record of its log says how many there are.
func ecsFinished() schemas.JobEvent {
	e := finished(0, 0)
	e.LogEvents = nil
	return e
}

// hostile cuts the lines (parts included) into deliveries, then
// duplicates, reorders and holds some back past the terminal event, as a
// CloudWatch subscription and the SQS job stream may.
func hostile(r *rand.Rand, recs []schemas.LogLine) (before, late [][]schemas.JobEvent) {
	var evs []schemas.JobEvent
	for i := 0; i < len(recs); {
		n := 1 + r.IntN(40)
		chunk := recs[i:min(i+n, len(recs))]
		e := ev(fmt.Sprintf("log:%d.%d", chunk[0].Seq, chunk[0].Part), schemas.EventLog)
		e.Lines = chunk
		evs = append(evs, e)
		i += n
	}
	for _, e := range evs {
		if r.IntN(4) == 0 {
			evs = append(evs, e) // duplicated
		}
	}
	r.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	for _, e := range evs {
		b := []schemas.JobEvent{e}
		if r.IntN(5) == 0 {
			late = append(late, b)
		} else {
			before = append(before, b)
		}
	}
	return before, late
}

// TestFollowExactlyOnceUnderHostileDelivery: whatever the order, the
// duplicates and the lines that come only after the job's end, every line
// prints once and in order, long lines joined from their parts, and the
// follower ends once the end record's count is met, with nothing read
// from the task log when the stream brought everything.
func TestFollowExactlyOnceUnderHostileDelivery(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			n := 1 + r.IntN(300)
			var recs []schemas.LogLine
			var want []string
			for i := 1; i <= n; i++ {
				text := fmt.Sprintf("line %d", i)
				if r.IntN(10) == 0 { // a long line in parts
					parts := 2 + r.IntN(5)
					for p := 1; p <= parts; p++ {
						recs = append(recs, schemas.LogLine{Seq: int64(i), Part: p, More: p < parts, Text: fmt.Sprintf("<%d.%d>", i, p)})
					}
					text = ""
					for p := 1; p <= parts; p++ {
						text += fmt.Sprintf("<%d.%d>", i, p)
					}
				} else {
					recs = append(recs, schemas.LogLine{Seq: int64(i), Text: text})
				}
				want = append(want, text)
			}
			recs = append(recs, endRecord(int64(n), 0))
			before, late := hostile(r, recs)
			st := &scripted{batches: [][]schemas.JobEvent{{ev("worker:1:started", schemas.EventStarted)}}}
			st.batches = append(st.batches, before...)
			st.batches = append(st.batches, []schemas.JobEvent{ecsFinished()})
			st.batches = append(st.batches, late...)
			got, res := followTexts(t, &Client{Streams: st, Logs: &source{taskID: "task-1"}}, fastFollow)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("printed %d lines, want %d:\n%.300q\nwant\n%.300q", len(got), len(want), got, want)
			}
			if res.Missing != 0 {
				t.Errorf("missing %d", res.Missing)
			}
		})
	}
}

// fastFollow polls the stream every millisecond and fills from the task
// log only once the job has ended.
var fastFollow = FollowOptions{PollWait: time.Millisecond, GapWait: time.Hour, FillEvery: time.Hour, DrainWait: 5 * time.Second}

// followTexts follows the job on c with opts and returns the texts of
// the lines printed.
func followTexts(t *testing.T, c *Client, opts FollowOptions) ([]string, FollowResult) {
	t.Helper()
	var got []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts.OnLine = func(_ int, l schemas.LogLine) { got = append(got, l.Text) }
	res, err := c.Follow(ctx, Job{ID: jobID, Stream: "s"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return got, res
}

// appending is a source that is a tasklog.Appender, counting the reads
// that reused the slice of the one before, and those that ended within a
// line's parts.
type appending struct {
	source
	reused, cut int
}

func (a *appending) ReadAppend(ctx context.Context, taskID string, after int64, limit int, dst []schemas.LogLine) ([]schemas.LogLine, error) {
	if len(dst) == 0 && cap(dst) > 0 {
		a.reused++
	}
	ls, err := a.Read(ctx, taskID, after, limit)
	if err != nil {
		return dst, err
	}
	if len(ls) > 0 && ls[len(ls)-1].More {
		a.cut++
	}
	return append(dst, ls...), nil
}

// TestFollowReusesTheReadSlice: from a tasklog.Appender the follower
// reads into one slice, read after read, each read overwriting the last,
// and every line still prints once, whole, in order: a line whose parts
// a read cut too.
func TestFollowReusesTheReadSlice(t *testing.T) {
	const n = 3 * fillBatch
	var recs []schemas.LogLine
	var want []string
	for i := 1; i <= n; i++ {
		// Lines in 3 parts: the first read (fillBatch records) ends after
		// the second part of line fillBatch-1.
		if i == fillBatch-1 || i == 2*fillBatch {
			for p := 1; p <= 3; p++ {
				recs = append(recs, schemas.LogLine{Seq: int64(i), Part: p, More: p < 3, Text: fmt.Sprintf("<%d.%d>", i, p)})
			}
			want = append(want, fmt.Sprintf("<%d.1><%d.2><%d.3>", i, i, i))
			continue
		}
		recs = append(recs, schemas.LogLine{Seq: int64(i), Text: fmt.Sprintf("line %d", i)})
		want = append(want, fmt.Sprintf("line %d", i))
	}
	recs = append(recs, endRecord(n, 0))
	st := &scripted{batches: [][]schemas.JobEvent{{ev("worker:1:started", schemas.EventStarted)}, {ecsFinished()}}}
	src := &appending{source: source{taskID: "task-1", lines: recs}}
	got, res := followTexts(t, &Client{Streams: st, Logs: src}, fastFollow)
	if strings.Join(got, "\n") != strings.Join(want, "\n") || res.Missing != 0 {
		t.Fatalf("printed %d lines (missing %d), want %d:\n%.300q\nwant\n%.300q", len(got), res.Missing, len(want), got, want)
	}
	if src.reused < 2 || src.cut == 0 {
		t.Errorf("%d of %d reads reused the slice (want all but the first), %d cut a line's parts (want some)", src.reused, src.reads, src.cut)
	}
}

// TestFollowFillsWhatTheStreamNeverBrings: lines and the end record that
// never reach the stream are read from the task log, by the same sequence
// numbers, once the job has ended; nothing prints twice.
func TestFollowFillsWhatTheStreamNeverBrings(t *testing.T) {
	all := append(lines(50), endRecord(50, 0))
	st := &scripted{batches: [][]schemas.JobEvent{
		{ev("worker:1:started", schemas.EventStarted)},
		{logEvent(all[:10]...), logEvent(all[20:30]...)},
		{ecsFinished()},
	}}
	src := &source{taskID: "task-1", lines: all}
	got, _, res := follow(t, st, src, false)
	expectLines(t, got, 50)
	if res.Missing != 0 || src.reads == 0 {
		t.Fatalf("result %+v after %d source reads", res, src.reads)
	}
}

// TestFollowWithoutAnEndRecordStopsWhenQuiet: a task killed before
// deployer-task closed its log (or an image without it) has no end
// record: the follower reads the log until it gives nothing new for
// QuietWait, and stops.
func TestFollowWithoutAnEndRecordStopsWhenQuiet(t *testing.T) {
	all := lines(20)
	st := &scripted{batches: [][]schemas.JobEvent{
		{ev("worker:1:started", schemas.EventStarted), logEvent(all[:5]...)},
		{ecsFinished()},
	}}
	opts := fastFollow
	opts.QuietWait, opts.FillEvery = 50*time.Millisecond, 10*time.Millisecond
	got, res := followTexts(t, &Client{Streams: st, Logs: &source{taskID: "task-1", lines: all}}, opts)
	expectLines(t, got, 20)
	if res.Missing != 0 {
		t.Errorf("missing %d for a log that promised nothing", res.Missing)
	}
}

// Lines of an image whose entrypoint is not deployer-task come from the
// subscription without a seq: each prints once, as it comes.
func TestFollowPrintsUnsequencedLinesOnce(t *testing.T) {
	line := func(i int) schemas.LogLine {
		return schemas.LogLine{ID: fmt.Sprintf("3729%04d", i), Text: fmt.Sprintf("line %d", i)}
	}
	delivery := func(id string, from, to int) schemas.JobEvent {
		e := ev(id, schemas.EventLog)
		for i := from; i <= to; i++ {
			e.Lines = append(e.Lines, line(i))
		}
		return e
	}
	st := &scripted{batches: [][]schemas.JobEvent{
		{ev("worker:1:started", schemas.EventStarted)},
		{delivery("d1", 1, 3), delivery("d2", 4, 6)},
		{delivery("d1", 1, 3)}, // redelivered
		{ecsFinished()},
	}}
	c := &Client{Streams: st}
	var got []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Follow(ctx, Job{ID: jobID, Stream: "s"}, FollowOptions{
		OnLine:    func(_ int, l schemas.LogLine) { got = append(got, l.Text) },
		PollWait:  time.Millisecond,
		QuietWait: 50 * time.Millisecond,
		DrainWait: 5 * time.Second,
	}); err != nil {
		t.Fatal(err)
	}
	expectLines(t, got, 6)
}

// gone is a stream that delivers its batches, then is deleted (another
// follower read the job's end).
type gone struct{ scripted }

func (g *gone) Subscribe(context.Context, string) (stream.Subscription, error) { return g, nil }
func (g *gone) Next(ctx context.Context, wait time.Duration) ([]schemas.JobEvent, error) {
	g.mu.Lock()
	empty := len(g.batches) == 0
	g.mu.Unlock()
	if empty {
		return nil, stream.ErrNotFound
	}
	return g.scripted.Next(ctx, wait)
}

// history is a journal holding one job's events.
type history []schemas.JobEvent

func (h history) Append(context.Context, string, ...schemas.JobEvent) error { return nil }
func (h history) Read(_ context.Context, id string) ([]schemas.JobEvent, error) {
	if id != jobID {
		return nil, journal.ErrNotFound
	}
	return h, nil
}
func (h history) List(context.Context, journal.ListOptions) ([]string, error) {
	return []string{jobID}, nil
}

// TestFollowFinishesFromHistoryWhenTheStreamGoes: a second follower of a
// job whose first follower read the end and deleted the stream finishes
// from the journal and the task log, each line once.
func TestFollowFinishesFromHistoryWhenTheStreamGoes(t *testing.T) {
	all := append(lines(30), endRecord(30, 4))
	started := ev("worker:1:started", schemas.EventStarted)
	term := ecsFinished()
	exit := 4
	term.ExitCode, term.Outcome = &exit, schemas.OutcomeFailed
	st := &gone{scripted{batches: [][]schemas.JobEvent{{started, logEvent(all[:12]...)}}}}
	c := &Client{Streams: st, Logs: &source{taskID: "task-1", lines: all}, Journal: history{started, term}}
	var got []string
	var types []schemas.EventType
	res, err := c.Follow(t.Context(), Job{ID: jobID, Stream: "s"}, FollowOptions{
		OnLine:   func(_ int, l schemas.LogLine) { got = append(got, l.Text) },
		OnEvent:  func(e schemas.JobEvent) { types = append(types, e.Type) },
		PollWait: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	expectLines(t, got, 30)
	if ExitCode(res.Terminal) != 4 || fmt.Sprint(types) != fmt.Sprint([]schemas.EventType{schemas.EventStarted, schemas.EventFinished}) {
		t.Errorf("exit %d, events %v", ExitCode(res.Terminal), types)
	}

	// Without the end in the journal, the stream is reported gone.
	st = &gone{scripted{batches: [][]schemas.JobEvent{{started}}}}
	c = &Client{Streams: st, Logs: &source{taskID: "task-1"}, Journal: history{started}}
	if _, err := c.Follow(t.Context(), Job{ID: jobID, Stream: "s"}, FollowOptions{PollWait: time.Millisecond}); !errors.Is(err, ErrStreamGone) {
		t.Errorf("err = %v, want ErrStreamGone", err)
	}
}

// catchingUp is a stream read as a log shipper catching up after the
// job's end: the terminal event first, then the lines a batch at a time,
// its clock moving on by step at every read.
type catchingUp struct {
	scripted
	clock sync.Mutex
	now   time.Time
	step  time.Duration
}

func (c *catchingUp) Subscribe(context.Context, string) (stream.Subscription, error) { return c, nil }
func (c *catchingUp) Next(ctx context.Context, wait time.Duration) ([]schemas.JobEvent, error) {
	c.clock.Lock()
	c.now = c.now.Add(c.step)
	c.clock.Unlock()
	return c.scripted.Next(ctx, wait)
}

func (c *catchingUp) time() time.Time {
	c.clock.Lock()
	defer c.clock.Unlock()
	return c.now
}

// throttled is a task log source that refuses every read, as CloudWatch
// Logs does an account over its read rate.
type throttled struct{}

func (throttled) Read(context.Context, string, int64, int) ([]schemas.LogLine, error) {
	return nil, errors.New("ThrottlingException: Rate exceeded")
}

// followUnreadableLog follows the job on st with a task log that cannot
// be read (logs) and the clock now, a DrainWait of 10s, and gaps filled
// only after the terminal event.
func followUnreadableLog(t *testing.T, st stream.Streams, logs tasklog.Source, now func() time.Time) ([]string, FollowResult) {
	t.Helper()
	cl := &Client{Streams: st, Logs: logs, Now: now}
	var got []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cl.Follow(ctx, Job{ID: jobID, Stream: "s"}, FollowOptions{
		OnLine:    func(_ int, l schemas.LogLine) { got = append(got, l.Text) },
		PollWait:  time.Millisecond,
		GapWait:   time.Hour,
		DrainWait: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, res
}

// denying is a task log source that refuses every read as IAM does, and
// counts them.
type denying struct{ reads atomic.Int32 }

func (d *denying) Read(context.Context, string, int64, int) ([]schemas.LogLine, error) {
	d.reads.Add(1)
	return nil, fmt.Errorf("%w: AccessDeniedException: not authorized to perform logs:GetLogEvents", tasklog.ErrDenied)
}

// A follower whose task log source denied a read does not ask it again:
// here the shipper stops half way, and the follower, waiting DrainWait
// for the rest, would otherwise read the log at every round (every 3s
// on its clock, FillEvery being 1s).
func TestFollowAsksADenyingLogOnce(t *testing.T) {
	const n = 20
	all := lines(n)
	batches := [][]schemas.JobEvent{{ev("worker:1:started", schemas.EventStarted), finished(0, n)}}
	for i := 0; i < n/2; i += 2 {
		batches = append(batches, []schemas.JobEvent{logEvent(all[i : i+2]...)})
	}
	st := &catchingUp{scripted: scripted{batches: batches}, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), step: 3 * time.Second}
	logs := &denying{}
	got, res := followUnreadableLog(t, st, logs, st.time)
	expectLines(t, got, n/2)
	if res.Missing != n/2 {
		t.Fatalf("%d lines missing, want %d", res.Missing, n/2)
	}
	if r := logs.reads.Load(); r != 1 {
		t.Fatalf("the denying task log was read %d times, want once", r)
	}
}

// After the terminal event, a follower waits for the lines promised for
// as long as they keep coming, not DrainWait in all: here they come 3s
// apart over 30s, DrainWait is 10s, and the task log cannot be read.
// It gives up on them once none has come for DrainWait.
func TestFollowWaitsForLinesThatKeepComingAfterTheEnd(t *testing.T) {
	const n = 20
	all := lines(n)
	batches := [][]schemas.JobEvent{{ev("worker:1:started", schemas.EventStarted), finished(0, n)}}
	for i := 0; i < n; i += 2 {
		batches = append(batches, []schemas.JobEvent{logEvent(all[i : i+2]...)})
	}
	for _, c := range []struct {
		name    string
		batches [][]schemas.JobEvent
		want    int
	}{
		{"every line comes", batches, n},
		{"the shipper stops half way", batches[:6], 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := &catchingUp{scripted: scripted{batches: c.batches}, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), step: 3 * time.Second}
			got, res := followUnreadableLog(t, st, throttled{}, st.time)
			expectLines(t, got, c.want)
			if res.Missing != int64(n-c.want) {
				t.Fatalf("%d lines missing, want %d", res.Missing, n-c.want)
			}
		})
	}
}

// hiding is a stream read as an SQS queue whose answer to one read was
// cut off after SQS handed its events over: that read fails, and the
// events are hidden for 30s, then come back to a read that begins after
// that. Its clock moves on by 3s at every read.
type hiding struct {
	catchingUp
	hidden      []schemas.JobEvent
	hiddenUntil time.Time
}

func (h *hiding) Subscribe(context.Context, string) (stream.Subscription, error) { return h, nil }
func (h *hiding) Next(ctx context.Context, wait time.Duration) ([]schemas.JobEvent, error) {
	now := h.time()
	evs, err := h.catchingUp.Next(ctx, wait)
	switch {
	case h.hidden == nil && len(evs) > 0 && evs[0].Type == schemas.EventLog && evs[0].Lines[0].Seq > 10:
		h.hidden, h.hiddenUntil = evs, now.Add(30*time.Second)
		return nil, errors.New("deserialization failed, unexpected EOF")
	case h.hidden != nil && !now.Before(h.hiddenUntil):
		evs, h.hidden = append(evs, h.hidden...), []schemas.JobEvent{}
	}
	return evs, err
}
func (h *hiding) HiddenUntil() time.Time { return h.hiddenUntil }

// A follower that cannot read the task log does not give up on the
// lines a lost read of the stream hid before they can come back: here
// the second half comes 30s after the read that lost it, DrainWait
// (10s) after the last line delivered.
func TestFollowWaitsForWhatALostReadHid(t *testing.T) {
	const n = 20
	all := lines(n)
	st := &hiding{catchingUp: catchingUp{scripted: scripted{batches: [][]schemas.JobEvent{
		{ev("worker:1:started", schemas.EventStarted), finished(0, n)},
		{logEvent(all[:10]...)},
		{logEvent(all[10:]...)},
	}}, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), step: 3 * time.Second}}
	got, res := followUnreadableLog(t, st, throttled{}, st.time)
	expectLines(t, got, n)
	if res.Missing != 0 {
		t.Fatalf("%d lines missing", res.Missing)
	}
}
