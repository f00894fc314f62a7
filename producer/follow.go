package producer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/internal/tasklog"
	"github.com/deployerhq/deployer/schemas"
)

// FollowOptions tune Follow. Zero values take the defaults.
type FollowOptions struct {
	// OnLine receives each line of the task's output once, in order.
	OnLine func(attempt int, line schemas.LogLine)
	// OnEvent receives every other event once, the terminal event last.
	OnEvent func(ev schemas.JobEvent)
	// OnBatch is called after the lines and events of each read from the
	// stream have been delivered: a good moment to flush buffered output.
	OnBatch func()
	// GapWait is how long a gap in the line sequence may last before it is
	// filled from the task log source. Defaults to 2s.
	GapWait time.Duration
	// DrainWait bounds the wait, after the terminal event, for the lines it
	// promised: the follower gives up on them once none has come for this
	// long (each line delivered starts the wait again) and a read of the
	// stream begun once the events a lost read hid were back
	// (stream.Subscription.HiddenUntil) has returned, and counts the rest
	// as missing. Defaults to 10s.
	DrainWait time.Duration
	// PollWait is the longest single wait on the stream. Defaults to 20s,
	// the SQS long-poll maximum.
	PollWait time.Duration
	// QuietWait applies when the job's end is in but its task's log has
	// no end record and no line count (the task was killed before
	// deployer-task could close the log, or the image's entrypoint is not
	// deployer-task): the follower keeps reading the task log source
	// until it has given no new line for this long (bounded by
	// DrainWait). Defaults to 2s.
	QuietWait time.Duration
	// FillEvery bounds how often, once the job's end is in, the task log
	// source is read for lines still missing (CloudWatch Logs limits
	// reads per account). Defaults to 1s.
	FillEvery time.Duration
}

// FollowResult is how a followed job ended.
type FollowResult struct {
	Terminal schemas.JobEvent
	// Missing counts promised lines that never arrived, neither on the
	// stream nor from the task log source, within DrainWait; 0 when the
	// task's log never said how many lines it holds.
	Missing int64
}

// ErrStreamGone reports that the job's stream is gone (deleted, or
// expired) and the job's journal does not hold its end.
var ErrStreamGone = errors.New("job stream is gone")

// Follow reads the job's stream until its terminal event and the lines it
// promised, delivering each line once and in order. When the stream goes
// away meanwhile (a second follower of the job read its end and deleted
// it), Follow finishes from the job's journal and task log, after the
// lines it delivered. It returns ctx's error when ctx ends first; the job
// itself keeps running.
func (c *Client) Follow(ctx context.Context, job Job, opts FollowOptions) (FollowResult, error) {
	opts.defaults()
	f := &follower{c: c, opts: opts, job: job, seen: map[string]struct{}{}, attempts: map[int]*attemptState{},
		deadLettered: map[int]bool{}}
	sub, err := c.Streams.Subscribe(ctx, job.Stream)
	if err != nil {
		if errors.Is(err, stream.ErrNotFound) {
			if res, ok, herr := f.finishFromHistory(ctx); herr != nil || ok {
				return res, herr
			}
			return FollowResult{}, fmt.Errorf("following job %s: %w", job.ID, ErrStreamGone)
		}
		return FollowResult{}, fmt.Errorf("following job %s: %w", job.ID, err)
	}
	defer func() { _ = sub.Close() }()

	retry := backoff.NewExponentialBackOff(backoff.WithMaxElapsedTime(0), backoff.WithMaxInterval(10*time.Second))
	for {
		if err := ctx.Err(); err != nil {
			return FollowResult{}, err
		}
		readFrom := f.c.now()
		evs, err := sub.Next(ctx, f.wait())
		if err != nil {
			if ctx.Err() != nil {
				return FollowResult{}, ctx.Err()
			}
			if errors.Is(err, stream.ErrNotFound) {
				// Another follower of the job read its end and deleted
				// the stream (or it expired): the journal and the task
				// log have the rest.
				if res, ok, herr := f.finishFromHistory(ctx); herr != nil || ok {
					return res, herr
				}
				return FollowResult{}, fmt.Errorf("following job %s: %w", job.ID, ErrStreamGone)
			}
			// Transient (throttling, network): back off and try again.
			if werr := sleepCtx(ctx, retry.NextBackOff()); werr != nil {
				return FollowResult{}, werr
			}
			continue
		}
		retry.Reset()
		f.readFrom = readFrom
		for _, ev := range evs {
			f.handle(ev)
		}
		f.flush()
		if err := f.readAvailable(ctx); err != nil && ctx.Err() != nil {
			return FollowResult{}, ctx.Err()
		}
		if err := f.fillGaps(ctx, false); err != nil && ctx.Err() != nil {
			return FollowResult{}, ctx.Err()
		}
		opts.OnBatch()
		if f.terminal == nil {
			continue
		}
		if f.terminalAt.IsZero() {
			f.terminalAt = f.c.now()
		}
		// The terminal event is in: the task log source holds every line
		// by now, or will in a moment, so fill from it rather than wait
		// for the stream.
		if !f.done() && f.since(f.lastFill) >= opts.FillEvery {
			f.lastFill = f.c.now()
			if err := f.fillGaps(ctx, true); err != nil && ctx.Err() != nil {
				return FollowResult{}, ctx.Err()
			}
		}
		// Given up on once no line has come for DrainWait (a shipper
		// catching up after the job's end is waited for), and not before
		// a read that began once the events a lost read hid were back
		// has come back itself.
		if f.done() || (f.since(later(f.terminalAt, f.lastLineAt)) >= opts.DrainWait && !f.readFrom.Before(sub.HiddenUntil())) {
			if c.DeleteStreams {
				delCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				_ = c.Streams.Delete(delCtx, job.Stream)
				cancel()
			}
			return f.end(), nil
		}
	}
}

// end delivers the terminal event and returns the result. A terminal
// event that says its attempt was dead-lettered brings the dead_lettered
// event first when the stream has not (yet) delivered it: it is the one
// that tells the reader where the job went.
func (f *follower) end() FollowResult {
	t := *f.terminal
	if t.DeadLettered && !f.deadLettered[t.Attempt] {
		ev := t
		ev.Type, ev.ID, ev.TaskID, ev.ExitCode, ev.LogEvents, ev.Duration, ev.DeadLettered =
			schemas.EventDeadLettered, t.ID+":dead_lettered", "", nil, nil, 0, false
		f.emit(ev)
	}
	f.emit(t)
	return FollowResult{Terminal: *f.terminal, Missing: f.missing()}
}

// finishFromHistory ends a follow whose stream is gone from the job's
// journal and task log: the events not seen yet, the lines after those
// delivered (by sequence number, so nothing prints twice), and the
// terminal event. It reports false when the journal does not hold the
// job's end.
func (f *follower) finishFromHistory(ctx context.Context) (FollowResult, bool, error) {
	if f.c.Journal == nil {
		return FollowResult{}, false, nil
	}
	history, err := f.c.Journal.Read(ctx, f.job.ID)
	if err != nil {
		if ctx.Err() != nil {
			return FollowResult{}, false, ctx.Err()
		}
		return FollowResult{}, false, nil
	}
	for _, ev := range history {
		f.handle(ev)
	}
	if f.terminal == nil {
		return FollowResult{}, false, nil
	}
	f.terminalAt = f.c.now()
	if err := f.fillGaps(ctx, true); err != nil && ctx.Err() != nil {
		return FollowResult{}, false, ctx.Err()
	}
	f.flush()
	f.opts.OnBatch()
	return f.end(), true, nil
}

func (o *FollowOptions) defaults() {
	if o.GapWait <= 0 {
		o.GapWait = 2 * time.Second
	}
	if o.DrainWait <= 0 {
		o.DrainWait = 10 * time.Second
	}
	if o.PollWait <= 0 {
		o.PollWait = 20 * time.Second
	}
	if o.QuietWait <= 0 {
		o.QuietWait = 2 * time.Second
	}
	if o.FillEvery <= 0 {
		o.FillEvery = time.Second
	}
	if o.OnLine == nil {
		o.OnLine = func(int, schemas.LogLine) {}
	}
	if o.OnBatch == nil {
		o.OnBatch = func() {}
	}
	if o.OnEvent == nil {
		o.OnEvent = func(schemas.JobEvent) {}
	}
}

type follower struct {
	c          *Client
	opts       FollowOptions
	job        Job
	seen       map[string]struct{}
	attempts   map[int]*attemptState
	terminal   *schemas.JobEvent
	terminalAt time.Time
	// deadLettered records the attempts whose dead_lettered event came.
	deadLettered map[int]bool
	// lastLineAt is when a line was last delivered, as done saw it:
	// delivered counts the lines delivered, and lastLineAt is taken
	// when done first sees the count change (the clock read once per
	// round, not once per line); lastFill is when the task log source
	// was last read after the terminal event.
	delivered, stamped int64
	lastLineAt         time.Time
	lastFill           time.Time
	// readFrom is when the last read of the stream that succeeded
	// began.
	readFrom time.Time
	// denied is the task log source's refusal (tasklog.ErrDenied), once
	// it refused.
	denied error
	// read is the slice the task log source's reads reuse, when it is a
	// tasklog.Appender: the lines are copied out as they are delivered
	// or put aside.
	read []schemas.LogLine
}

// attemptState tracks the lines of one attempt's task. Lines are
// identified by their sequence number (and part): whichever path brings
// one first (the stream, the task log source), it is delivered once, in
// sequence order.
type attemptState struct {
	taskID string
	// printed is the highest seq delivered; every seq up to it was
	// delivered.
	printed int64
	pending map[int64]*pendingLine
	// endSeq is the seq of the log's end record once it came (the line
	// count plus one); end is what it says.
	endSeq   int64
	end      *schemas.LogEnd
	gapSince time.Time
	// unsequenced holds ids of lines that came without a seq (an image
	// whose entrypoint is not deployer-task); they are delivered as they
	// come, with no place in the order.
	unsequenced map[string]struct{}
	// available is the seq up to which log events said the task log
	// source holds lines they did not carry (schemas.JobEvent.LogTo).
	available int64
}

// pendingLine is a line not delivered yet: whole, or the parts that came.
type pendingLine struct {
	whole *schemas.LogLine
	parts map[int]schemas.LogLine
	last  int // the part without More; 0 until it came
}

// line returns the whole line once every part is in.
func (p *pendingLine) line() (schemas.LogLine, bool) {
	if p.whole != nil {
		return *p.whole, true
	}
	if p.last == 0 || len(p.parts) < p.last {
		return schemas.LogLine{}, false
	}
	parts := make([]schemas.LogLine, 0, p.last)
	for i := 1; i <= p.last; i++ {
		part, ok := p.parts[i]
		if !ok {
			return schemas.LogLine{}, false
		}
		parts = append(parts, part)
	}
	return joinParts(parts), true
}

func (f *follower) attempt(n int) *attemptState {
	if n < 1 {
		n = 1
	}
	a := f.attempts[n]
	if a == nil {
		a = &attemptState{pending: map[int64]*pendingLine{}, unsequenced: map[string]struct{}{}}
		f.attempts[n] = a
	}
	return a
}

func (f *follower) handle(ev schemas.JobEvent) {
	if ev.JobID != f.job.ID {
		return
	}
	if _, dup := f.seen[ev.ID]; dup {
		return
	}
	f.seen[ev.ID] = struct{}{}
	a := f.attempt(ev.Attempt)
	if ev.TaskID != "" {
		a.taskID = ev.TaskID
	}
	switch {
	case ev.Type == schemas.EventLog:
		for _, l := range ev.Lines {
			f.addLine(ev.Attempt, a, l)
		}
		a.available = max(a.available, ev.LogTo)
	case ev.Type.Terminal():
		// A later attempt's terminal event supersedes an earlier one.
		if f.terminal == nil || ev.Attempt >= f.terminal.Attempt {
			t := ev
			f.terminal = &t
		}
	default:
		if ev.Type == schemas.EventDeadLettered {
			f.deadLettered[ev.Attempt] = true
		}
		f.emit(ev)
	}
}

func (f *follower) addLine(attempt int, a *attemptState, l schemas.LogLine) {
	switch {
	case l.Seq <= 0:
		if _, dup := a.unsequenced[l.ID]; !dup {
			a.unsequenced[l.ID] = struct{}{}
			f.deliver(attempt, l)
		}
		return
	case l.Seq <= a.printed:
		return
	case l.End != nil:
		a.endSeq, a.end = l.Seq, l.End
		return
	case l.Seq == a.printed+1 && l.Part == 0 && len(a.pending) == 0:
		// The next line, whole, with nothing waiting: the usual case,
		// delivered without a stop in pending.
		a.printed++
		f.deliver(attempt, l)
		return
	}
	p := a.pending[l.Seq]
	if p == nil {
		p = &pendingLine{}
		a.pending[l.Seq] = p
	}
	if l.Part == 0 {
		whole := l
		p.whole = &whole
		return
	}
	if p.parts == nil {
		p.parts = map[int]schemas.LogLine{}
	}
	p.parts[l.Part] = l
	if !l.More {
		p.last = l.Part
	}
}

func (f *follower) deliver(attempt int, l schemas.LogLine) {
	f.delivered++
	f.opts.OnLine(attempt, l)
}

// flush delivers every attempt's lines that are now contiguous and whole.
func (f *follower) flush() {
	for _, n := range f.attemptNumbers() {
		a := f.attempts[n]
		for {
			p := a.pending[a.printed+1]
			if p == nil {
				break
			}
			l, ok := p.line()
			if !ok {
				break
			}
			delete(a.pending, a.printed+1)
			a.printed++
			f.deliver(n, l)
		}
		if !a.waiting() {
			a.gapSince = time.Time{}
		} else if a.gapSince.IsZero() {
			a.gapSince = f.c.now()
		}
	}
}

// complete reports whether every line up to the log's end record was
// delivered.
func (a *attemptState) complete() bool { return a.endSeq > 0 && a.printed+1 >= a.endSeq }

// waiting reports whether lines the attempt knows of cannot be delivered
// yet: a gap before lines that came, a line missing parts, or lines
// missing before the end record.
func (a *attemptState) waiting() bool {
	return len(a.pending) > 0 || (a.endSeq > 0 && !a.complete())
}

// fillGaps reads missing lines from the task log source: for gaps older
// than GapWait, or everything up to the end of the log when force is set
// (after the terminal event).
func (f *follower) fillGaps(ctx context.Context, force bool) error {
	if f.c.Logs == nil {
		return nil
	}
	for _, n := range f.attemptNumbers() {
		a := f.attempts[n]
		if a.taskID == "" || a.complete() {
			continue
		}
		stale := !a.gapSince.IsZero() && f.since(a.gapSince) >= f.opts.GapWait
		if !force && !stale {
			continue
		}
		if err := f.readLog(ctx, n, a, func() bool { return force || a.waiting() }); err != nil {
			return err
		}
	}
	return nil
}

// readLog reads the attempt's lines after those delivered from the task
// log source, a batch at a time, while more reads may bring more and more
// says so; it stops at the log's end or when a read brings nothing new.
func (f *follower) readLog(ctx context.Context, n int, a *attemptState, more func() bool) error {
	for !a.complete() {
		before := a.printed
		lines, err := f.readLines(ctx, a.taskID, a.printed)
		if err != nil {
			return err
		}
		for _, l := range lines {
			f.addLine(n, a, l)
		}
		f.flush()
		if len(lines) < fillBatch || a.printed == before || !more() {
			return nil
		}
	}
	return nil
}

// readLines reads up to fillBatch lines of the task after seq after; into
// f.read when the source is a tasklog.Appender. The lines read are good
// until the next call. A source that denied a read (tasklog.ErrDenied)
// is not asked again: the follower has the stream alone.
func (f *follower) readLines(ctx context.Context, taskID string, after int64) ([]schemas.LogLine, error) {
	if f.denied != nil {
		return nil, f.denied
	}
	lines, err := f.readSource(ctx, taskID, after)
	if errors.Is(err, tasklog.ErrDenied) {
		f.denied = err
	}
	return lines, err
}

// readSource is readLines's read of the task log source.
func (f *follower) readSource(ctx context.Context, taskID string, after int64) ([]schemas.LogLine, error) {
	app, ok := f.c.Logs.(tasklog.Appender)
	if !ok {
		return f.c.Logs.Read(ctx, taskID, after, fillBatch)
	}
	prev := len(f.read)
	lines, err := app.ReadAppend(ctx, taskID, after, fillBatch, f.read[:0])
	if prev > len(lines) {
		// What the last read left past this one's lines would keep its
		// batches' text from the collector.
		clear(lines[len(lines):prev])
	}
	f.read = lines
	return lines, err
}

// readAvailable reads from the task log source the lines that log events
// said are there (schemas.JobEvent.LogTo) rather than carried. A read
// that fails is left to the next event, or to the fill after the
// terminal event.
func (f *follower) readAvailable(ctx context.Context) error {
	if f.c.Logs == nil {
		return nil
	}
	for _, n := range f.attemptNumbers() {
		a := f.attempts[n]
		if a.taskID == "" || a.printed >= a.available {
			continue
		}
		if err := f.readLog(ctx, n, a, func() bool { return a.printed < a.available }); err != nil {
			return err
		}
	}
	return nil
}

// fillBatch is how many lines one read of the task log source asks for:
// as many as a batch of the embedded task log holds at most
// (local.FlushLines), so that a read of a fast task's output takes whole
// batches rather than decompressing one batch for two reads. CloudWatch
// Logs pages within a read (10,000 events a call at most).
const fillBatch = 4000

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// since is how long ago t was, on the client's clock.
func (f *follower) since(t time.Time) time.Duration { return f.c.now().Sub(t) }

// done reports whether the terminal event is in and every line of the
// job's last attempt was delivered: up to its log's end record, or as
// many as the terminal event counted; or, for a log that says neither,
// none came for QuietWait. A job whose task never ran is done at once.
func (f *follower) done() bool {
	if f.stamped != f.delivered {
		f.stamped, f.lastLineAt = f.delivered, f.c.now()
	}
	t := f.terminal
	if t == nil {
		return false
	}
	a := f.attempt(t.Attempt)
	switch {
	case a.taskID == "" || a.complete():
		return true
	case t.LogEvents != nil:
		return a.printed+int64(len(a.unsequenced)) >= *t.LogEvents
	case a.endSeq > 0:
		return false
	}
	return f.since(later(f.terminalAt, f.lastLineAt)) >= f.opts.QuietWait
}

// missing counts the lines the job's last attempt promised (by its end
// record, or the terminal event's count) that were not delivered.
func (f *follower) missing() int64 {
	t := f.terminal
	if t == nil {
		return 0
	}
	a := f.attempt(t.Attempt)
	want := int64(-1)
	switch {
	case a.end != nil:
		want = a.end.Lines
	case t.LogEvents != nil:
		want = *t.LogEvents
	}
	got := a.printed + int64(len(a.unsequenced))
	if want < 0 || got >= want {
		return 0
	}
	return want - got
}

func (f *follower) wait() time.Duration {
	w := f.opts.PollWait
	if f.terminal != nil {
		return min(w, 100*time.Millisecond)
	}
	for _, a := range f.attempts {
		if !a.gapSince.IsZero() {
			left := f.opts.GapWait - f.since(a.gapSince)
			w = min(w, max(left, 10*time.Millisecond))
		}
	}
	return w
}

func (f *follower) emit(ev schemas.JobEvent) { f.opts.OnEvent(ev) }

func (f *follower) attemptNumbers() []int {
	ns := make([]int, 0, len(f.attempts))
	for n := range f.attempts {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	return ns
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
