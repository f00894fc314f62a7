package producer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/deployerhq/deployer/internal/stream"
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
	// promised. Defaults to 10s.
	DrainWait time.Duration
	// PollWait is the longest single wait on the stream. Defaults to 20s,
	// the SQS long-poll maximum.
	PollWait time.Duration
	// QuietWait applies when the terminal event cannot say how many lines
	// the task wrote (ECS): the follower keeps reading the task log source
	// until it has given no new line for this long (bounded by DrainWait),
	// since the task's last lines may reach the log after it stopped.
	// Defaults to 2s.
	QuietWait time.Duration
	// HoldUnsequenced is how long a line that came without a seq (a
	// CloudWatch subscription delivery) is held before it is printed, so
	// that deliveries arriving out of order within it still print in the
	// task's order (by time, then event id). Defaults to 1s.
	HoldUnsequenced time.Duration
}

// FollowResult is how a followed job ended.
type FollowResult struct {
	Terminal schemas.JobEvent
	// Missing counts promised lines that never arrived, neither on the
	// stream nor from the task log source, within DrainWait.
	Missing int64
}

// ErrStreamGone reports that the job's stream disappeared while it was
// being followed (deleted, or expired).
var ErrStreamGone = errors.New("job stream is gone")

// Follow reads the job's stream until its terminal event and the lines it
// promised, delivering each line once and in order. It returns ctx's error
// when ctx ends first; the job itself keeps running.
func (c *Client) Follow(ctx context.Context, job Job, opts FollowOptions) (FollowResult, error) {
	opts.defaults()
	sub, err := c.Streams.Subscribe(ctx, job.Stream)
	if err != nil {
		if errors.Is(err, stream.ErrNotFound) {
			return FollowResult{}, fmt.Errorf("following job %s: %w", job.ID, ErrStreamGone)
		}
		return FollowResult{}, fmt.Errorf("following job %s: %w", job.ID, err)
	}
	defer func() { _ = sub.Close() }()

	f := &follower{c: c, opts: opts, job: job, seen: map[string]struct{}{}, attempts: map[int]*attemptState{}}
	retry := backoff.NewExponentialBackOff(backoff.WithMaxElapsedTime(0), backoff.WithMaxInterval(10*time.Second))
	for {
		if err := ctx.Err(); err != nil {
			return FollowResult{}, err
		}
		evs, err := sub.Next(ctx, f.wait())
		if err != nil {
			if ctx.Err() != nil {
				return FollowResult{}, ctx.Err()
			}
			if errors.Is(err, stream.ErrNotFound) {
				return FollowResult{}, fmt.Errorf("following job %s: %w", job.ID, ErrStreamGone)
			}
			// Transient (throttling, network): back off and try again.
			if werr := sleepCtx(ctx, retry.NextBackOff()); werr != nil {
				return FollowResult{}, werr
			}
			continue
		}
		retry.Reset()
		for _, ev := range evs {
			f.handle(ev)
		}
		f.flush()
		if err := f.fillGaps(ctx, false); err != nil && ctx.Err() != nil {
			return FollowResult{}, ctx.Err()
		}
		opts.OnBatch()
		if f.terminal == nil {
			continue
		}
		if f.terminalAt.IsZero() {
			f.terminalAt = time.Now()
		}
		// The terminal event is in: the task log source holds every line
		// by now, so fill from it rather than wait for the stream.
		f.releaseAll()
		if f.missing() > 0 || f.gapped() || f.uncounted() {
			if err := f.fillGaps(ctx, true); err != nil && ctx.Err() != nil {
				return FollowResult{}, ctx.Err()
			}
		}
		missing := f.missing()
		if missing == 0 && f.uncounted() && !f.quiet(opts.QuietWait) && time.Since(f.terminalAt) < opts.DrainWait {
			continue
		}
		if missing == 0 || time.Since(f.terminalAt) >= opts.DrainWait {
			f.emit(*f.terminal)
			if c.DeleteStreams {
				delCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				_ = c.Streams.Delete(delCtx, job.Stream)
				cancel()
			}
			return FollowResult{Terminal: *f.terminal, Missing: missing}, nil
		}
	}
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
	if o.HoldUnsequenced <= 0 {
		o.HoldUnsequenced = time.Second
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
	// lastLineAt is when a line was last delivered.
	lastLineAt time.Time
}

// attemptState tracks the lines of one attempt's task.
type attemptState struct {
	taskID   string
	printed  int64 // highest seq delivered; every seq up to it was delivered
	pending  map[int64]schemas.LogLine
	gapSince time.Time
	// held are unsequenced lines not printed yet, with when they came.
	held []heldLine
	// unsequenced holds ids of lines that came without a seq (sources
	// that cannot number lines); they are delivered as they come.
	unsequenced map[string]struct{}
}

func (f *follower) attempt(n int) *attemptState {
	if n < 1 {
		n = 1
	}
	a := f.attempts[n]
	if a == nil {
		a = &attemptState{pending: map[int64]schemas.LogLine{}, unsequenced: map[string]struct{}{}}
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
	case ev.Type.Terminal():
		// A later attempt's terminal event supersedes an earlier one.
		if f.terminal == nil || ev.Attempt >= f.terminal.Attempt {
			t := ev
			f.terminal = &t
		}
	default:
		f.emit(ev)
	}
}

// heldLine is an unsequenced line waiting to be printed.
type heldLine struct {
	line schemas.LogLine
	came time.Time
}

func (f *follower) addLine(attempt int, a *attemptState, l schemas.LogLine) {
	if l.Seq <= 0 {
		if _, dup := a.unsequenced[l.ID]; !dup {
			a.unsequenced[l.ID] = struct{}{}
			a.held = append(a.held, heldLine{line: l, came: time.Now()})
		}
		return
	}
	if l.Seq <= a.printed {
		return
	}
	a.pending[l.Seq] = l
}

// release prints an attempt's held unsequenced lines in (time, id)
// order: those held for HoldUnsequenced, or all of them.
func (f *follower) release(n int, a *attemptState, all bool) {
	if len(a.held) == 0 {
		return
	}
	sort.SliceStable(a.held, func(i, j int) bool { return unsequencedLess(a.held[i].line, a.held[j].line) })
	i := 0
	for ; i < len(a.held); i++ {
		if !all && time.Since(a.held[i].came) < f.opts.HoldUnsequenced {
			break
		}
		f.lastLineAt = time.Now()
		f.opts.OnLine(n, a.held[i].line)
	}
	a.held = a.held[i:]
}

// unsequencedLess orders lines without a seq by time, then by id compared
// as a number (CloudWatch event ids are decimal strings).
func unsequencedLess(x, y schemas.LogLine) bool {
	if !x.Time.Equal(y.Time) {
		return x.Time.Before(y.Time)
	}
	if len(x.ID) != len(y.ID) {
		return len(x.ID) < len(y.ID)
	}
	return x.ID < y.ID
}

// releaseAll prints every held line (the terminal event is in).
func (f *follower) releaseAll() {
	for _, n := range f.attemptNumbers() {
		f.release(n, f.attempts[n], true)
	}
}

// flush delivers every attempt's lines that are now contiguous, and the
// unsequenced lines held long enough.
func (f *follower) flush() {
	for _, n := range f.attemptNumbers() {
		a := f.attempts[n]
		f.release(n, a, false)
		for {
			l, ok := a.pending[a.printed+1]
			if !ok {
				break
			}
			delete(a.pending, l.Seq)
			a.printed = l.Seq
			f.lastLineAt = time.Now()
			f.opts.OnLine(n, l)
		}
		if len(a.pending) == 0 {
			a.gapSince = time.Time{}
		} else if a.gapSince.IsZero() {
			a.gapSince = time.Now()
		}
	}
}

// fillGaps reads missing lines from the task log source: for gaps older
// than GapWait, or for everything up to the end of the log when force is
// set (after the terminal event).
func (f *follower) fillGaps(ctx context.Context, force bool) error {
	if f.c.Logs == nil {
		return nil
	}
	for _, n := range f.attemptNumbers() {
		a := f.attempts[n]
		if a.taskID == "" {
			continue
		}
		stale := !a.gapSince.IsZero() && time.Since(a.gapSince) >= f.opts.GapWait
		if !force && !stale {
			continue
		}
		// Lines that came without a seq (CloudWatch subscription events)
		// were the head of the task's output, in order: the source's lines
		// start after them.
		if force && a.printed < int64(len(a.unsequenced)) && len(a.pending) == 0 {
			a.printed = int64(len(a.unsequenced))
		}
		for {
			lines, err := f.c.Logs.Read(ctx, a.taskID, a.printed, 1000)
			if err != nil {
				return err
			}
			for _, l := range lines {
				f.addLine(n, a, l)
			}
			f.flush()
			if len(lines) < 1000 || (!force && len(a.pending) == 0) {
				break
			}
		}
	}
	return nil
}

// missing counts the lines the terminal event promised that have not been
// delivered yet.
func (f *follower) missing() int64 {
	t := f.terminal
	if t == nil || t.LogEvents == nil {
		return 0
	}
	a := f.attempt(t.Attempt)
	got := a.printed + int64(len(a.unsequenced))
	if got >= *t.LogEvents {
		return 0
	}
	return *t.LogEvents - got
}

// uncounted reports whether the terminal event is in for a task that ran
// but could not say how many lines it wrote.
func (f *follower) uncounted() bool {
	t := f.terminal
	return t != nil && t.LogEvents == nil && f.attempt(t.Attempt).taskID != ""
}

// quiet reports whether no line was delivered for d since the terminal
// event came.
func (f *follower) quiet(d time.Duration) bool {
	last := f.lastLineAt
	if last.Before(f.terminalAt) {
		last = f.terminalAt
	}
	return time.Since(last) >= d
}

// gapped reports whether some attempt holds lines it cannot deliver yet.
func (f *follower) gapped() bool {
	for _, a := range f.attempts {
		if len(a.pending) > 0 {
			return true
		}
	}
	return false
}

func (f *follower) wait() time.Duration {
	w := f.opts.PollWait
	if f.terminal != nil {
		return min(w, 100*time.Millisecond)
	}
	for _, a := range f.attempts {
		if !a.gapSince.IsZero() {
			left := f.opts.GapWait - time.Since(a.gapSince)
			w = min(w, max(left, 10*time.Millisecond))
		}
		for _, h := range a.held {
			left := f.opts.HoldUnsequenced - time.Since(h.came)
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
