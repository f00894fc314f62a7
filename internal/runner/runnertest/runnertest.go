// Package runnertest is the conformance suite of the runner port. Every
// adapter's tests call Run with a Harness that knows how to make a task
// behave a given way on that backend (a script on the local backend, a
// task definition or command on an ECS fake). A behaviour the suite does
// not check is not guaranteed by the port.
//
// Every test uses fresh job ids, stops what it started, and waits by
// polling Inspect with a deadline, never by sleeping.
package runnertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/internal/tasklog"
	"github.com/deployerhq/deployer/schemas"
)

// DefaultTimeout bounds every wait of the suite unless Features.Timeout
// says otherwise.
const DefaultTimeout = 30 * time.Second

// Behaviour is how a task started by the suite behaves.
type Behaviour struct {
	// Lines are written by the task, in order, one per line, before
	// anything else it does.
	Lines []string
	// ExitCode is what the task exits with after writing Lines (0 to
	// 125), unless Sleep.
	ExitCode int
	// Sleep makes the task run, after writing Lines, until it is
	// stopped; it ends promptly on SIGTERM (or the backend's equivalent).
	Sleep bool
	// NoSuchScript makes a spec whose script (or task definition) does
	// not exist, so that Start fails with runner.ErrInvalidSpec.
	NoSuchScript bool
}

// Harness is one adapter under test.
type Harness struct {
	// Runner is the adapter.
	Runner runner.Runner
	// Spec returns a spec that behaves as b. The suite sets its JobID and
	// Attempt. Required.
	Spec func(b Behaviour) runner.Spec
	// Runs, when set, returns how many times the task of a job's attempt
	// actually ran (was executed, not merely started), so the suite can
	// check that repeated starts run it once.
	Runs func(jobID string, attempt int) int
	// Logs, when set, is the task log the adapter feeds; the suite checks
	// that the lines a task wrote are there, in order.
	Logs tasklog.Source
}

// Features says what the backend can do; the suite skips checks of what
// it cannot.
type Features struct {
	// LogEvents: Task.LogEvents counts the lines a task has written (live
	// while it runs, exactly once it has stopped). Without it the suite
	// accepts -1.
	LogEvents bool
	// Tags: tasks carry the spec's Tags.
	Tags bool
	// Timeout bounds every wait. Defaults to DefaultTimeout.
	Timeout time.Duration
}

// Run runs the suite. newHarness is called once per test, with that
// test's t, and may return handles on one shared backend; tests run in
// parallel.
func Run(t *testing.T, f Features, newHarness func(t *testing.T) Harness) {
	if f.Timeout <= 0 {
		f.Timeout = DefaultTimeout
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s *suite)
	}{
		{"RunsToExit", testRunsToExit},
		{"ExitZeroNoOutput", testExitZero},
		{"IdempotentStart", testIdempotentStart},
		{"AttemptsAreDistinct", testAttempts},
		{"FindUnknown", testFindUnknown},
		{"InspectBatch", testInspectBatch},
		{"StopSleeping", testStopSleeping},
		{"StopUnknown", testStopUnknown},
		{"InvalidSpec", testInvalidSpec},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if h.Runner == nil || h.Spec == nil {
				t.Fatal("runnertest: the harness needs a Runner and a Spec function")
			}
			s := &suite{t: t, h: h, f: f}
			t.Cleanup(s.cleanup)
			tc.fn(t, s)
		})
	}
}

// suite is one test's view of the harness.
type suite struct {
	t *testing.T
	h Harness
	f Features

	mu      sync.Mutex
	started []string
}

func (s *suite) ctx() context.Context { return s.t.Context() }

// spec returns a spec behaving as b for a fresh job's attempt.
func (s *suite) spec(b Behaviour, jobID string, attempt int) runner.Spec {
	sp := s.h.Spec(b)
	sp.JobID, sp.Attempt = jobID, attempt
	return sp
}

// start starts spec and remembers the task for cleanup.
func (s *suite) start(spec runner.Spec) runner.Task {
	s.t.Helper()
	task, err := s.h.Runner.Start(s.ctx(), spec)
	if err != nil {
		s.t.Fatalf("Start(job %s, attempt %d): %v", spec.JobID, spec.Attempt, err)
	}
	s.mu.Lock()
	s.started = append(s.started, task.ID)
	s.mu.Unlock()
	checkStarted(s.t, task, spec)
	return task
}

// cleanup stops whatever the test left running and waits for it, so no
// task outlives its test.
func (s *suite) cleanup() {
	s.mu.Lock()
	ids := slices.Clone(s.started)
	s.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.f.Timeout)
	defer cancel()
	for _, id := range ids {
		if err := s.h.Runner.Stop(ctx, id, "runnertest cleanup"); err != nil {
			s.t.Errorf("cleanup: Stop(%s): %v", id, err)
		}
	}
	for _, id := range ids {
		waitFor(ctx, s.t, s.h.Runner, id, "stopped", func(t runner.Task) bool { return t.Status == runner.StatusStopped })
	}
}

func (s *suite) waitStopped(id string) runner.Task {
	s.t.Helper()
	return WaitStopped(s.t, s.h.Runner, id, s.f.Timeout)
}

// WaitFor polls r.Inspect(id) until cond holds or timeout passes (then
// the test fails), and returns the task as last seen.
func WaitFor(t testing.TB, r runner.Runner, id string, timeout time.Duration, what string, cond func(runner.Task) bool) runner.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return waitFor(ctx, t, r, id, what, cond)
}

// WaitStopped waits until the task id has stopped and returns it.
func WaitStopped(t testing.TB, r runner.Runner, id string, timeout time.Duration) runner.Task {
	t.Helper()
	return WaitFor(t, r, id, timeout, "stopped", func(t runner.Task) bool { return t.Status == runner.StatusStopped })
}

func waitFor(ctx context.Context, t testing.TB, r runner.Runner, id, what string, cond func(runner.Task) bool) runner.Task {
	t.Helper()
	poll := 5 * time.Millisecond
	var (
		last    runner.Task
		lastErr error
	)
	for {
		ts, err := r.Inspect(ctx, id)
		lastErr = err
		if err == nil && len(ts) == 1 {
			last = ts[0]
			if cond(last) {
				return last
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("task %s: gave up waiting for it to be %s; last seen %+v (Inspect error: %v)", id, what, last, lastErr)
			return last
		case <-time.After(poll):
		}
		poll = min(2*poll, 100*time.Millisecond)
	}
}

// checkStarted checks what Start returned.
func checkStarted(t *testing.T, task runner.Task, spec runner.Spec) {
	t.Helper()
	if task.ID == "" {
		t.Errorf("Start returned a task without an id: %+v", task)
	}
	if task.JobID != spec.JobID || task.Attempt != spec.Attempt {
		t.Errorf("Start returned job %q attempt %d, want job %q attempt %d", task.JobID, task.Attempt, spec.JobID, spec.Attempt)
	}
	switch task.Status {
	case runner.StatusPending, runner.StatusRunning, runner.StatusStopped:
	default:
		t.Errorf("Start returned status %q", task.Status)
	}
}

// checkLogs checks the task's log holds exactly want, in order.
func (s *suite) checkLogs(task runner.Task, want []string) {
	s.t.Helper()
	if s.f.LogEvents && task.LogEvents != int64(len(want)) {
		s.t.Errorf("task %s: LogEvents = %d, want %d", task.ID, task.LogEvents, len(want))
	}
	if !s.f.LogEvents && task.LogEvents != -1 && task.LogEvents != int64(len(want)) {
		s.t.Errorf("task %s: LogEvents = %d, want %d or -1", task.ID, task.LogEvents, len(want))
	}
	if s.h.Logs == nil {
		return
	}
	var got []schemas.LogLine
	after := int64(0)
	for {
		lines, err := s.h.Logs.Read(s.ctx(), task.ID, after, 1000)
		if errors.Is(err, tasklog.ErrNotFound) && len(want) == 0 {
			break
		}
		if err != nil {
			s.t.Fatalf("reading the log of task %s: %v", task.ID, err)
		}
		if len(lines) == 0 {
			break
		}
		after = lines[len(lines)-1].Seq
		for _, l := range lines {
			if l.End == nil {
				got = append(got, l)
				continue
			}
			// The end record closes the log: it counts the lines before it.
			if l.End.Lines != int64(len(got)) {
				s.t.Errorf("task %s: the log's end record counts %d lines, the log has %d", task.ID, l.End.Lines, len(got))
			}
		}
	}
	texts := make([]string, len(got))
	for i, l := range got {
		texts[i] = l.Text
		if l.Seq != int64(i+1) {
			s.t.Errorf("task %s: line %d has seq %d, want %d", task.ID, i+1, l.Seq, i+1)
		}
		if l.Time.IsZero() {
			s.t.Errorf("task %s: line %d has no time", task.ID, i+1)
		}
	}
	if !slices.Equal(texts, want) {
		s.t.Errorf("task %s: log lines = %q, want %q", task.ID, texts, want)
	}
}

// waitLogged waits until the task's log (Harness.Logs, when set) holds n
// lines.
func (s *suite) waitLogged(id string, n int) {
	s.t.Helper()
	if s.h.Logs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx(), s.f.Timeout)
	defer cancel()
	poll := 5 * time.Millisecond
	for {
		lines, err := s.h.Logs.Read(ctx, id, 0, n)
		if err == nil && len(lines) >= n {
			return
		}
		select {
		case <-ctx.Done():
			s.t.Fatalf("task %s: its log never held %d lines (last read: %d lines, %v)", id, n, len(lines), err)
		case <-time.After(poll):
		}
		poll = min(2*poll, 100*time.Millisecond)
	}
}

func newJobID() string { return ulid.Make().String() }

func testRunsToExit(t *testing.T, s *suite) {
	lines := []string{"first line", "  spaced  out  ", "", "$HOME and 'quotes' \"kept\"", "last"}
	spec := s.spec(Behaviour{Lines: lines, ExitCode: 3}, newJobID(), 1)
	spec.Tags = map[string]string{"deployer:job-id": spec.JobID, "suite": "runnertest"}
	task := s.start(spec)
	got := s.waitStopped(task.ID)
	if got.ExitCode == nil || *got.ExitCode != 3 {
		t.Errorf("ExitCode = %v, want 3", fmtExit(got.ExitCode))
	}
	if got.StopCode != runner.StopExited {
		t.Errorf("StopCode = %q (%s), want %q", got.StopCode, got.StopReason, runner.StopExited)
	}
	if got.StartedAt.IsZero() || got.StoppedAt.IsZero() || got.StoppedAt.Before(got.StartedAt) {
		t.Errorf("StartedAt = %v, StoppedAt = %v: want both set, in order", got.StartedAt, got.StoppedAt)
	}
	if got.ID != task.ID || got.JobID != spec.JobID || got.Attempt != 1 {
		t.Errorf("Inspect returned %s (job %s attempt %d), want %s (job %s attempt 1)", got.ID, got.JobID, got.Attempt, task.ID, spec.JobID)
	}
	if s.f.Tags {
		for k, v := range spec.Tags {
			if got.Tags[k] != v {
				t.Errorf("tag %s = %q, want %q", k, got.Tags[k], v)
			}
		}
	}
	s.checkLogs(got, lines)
	found, err := s.h.Runner.Find(s.ctx(), spec.JobID, 1)
	if err != nil || found.ID != task.ID {
		t.Errorf("Find = %s, %v; want %s", found.ID, err, task.ID)
	}
}

func testExitZero(t *testing.T, s *suite) {
	task := s.start(s.spec(Behaviour{}, newJobID(), 1))
	got := s.waitStopped(task.ID)
	if got.ExitCode == nil || *got.ExitCode != 0 {
		t.Errorf("ExitCode = %v, want 0", fmtExit(got.ExitCode))
	}
	if got.StopCode != runner.StopExited {
		t.Errorf("StopCode = %q (%s), want %q", got.StopCode, got.StopReason, runner.StopExited)
	}
	s.checkLogs(got, nil)
}

func testIdempotentStart(t *testing.T, s *suite) {
	lines := []string{"once"}
	spec := s.spec(Behaviour{Lines: lines}, newJobID(), 1)
	const n = 6
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			task, err := s.h.Runner.Start(s.ctx(), spec)
			if err != nil {
				t.Errorf("concurrent Start %d: %v", i, err)
				return
			}
			ids[i] = task.ID
		})
	}
	wg.Wait()
	first := s.start(spec)
	for i, id := range ids {
		if id != first.ID {
			t.Errorf("Start %d returned task %q, want %q", i, id, first.ID)
		}
	}
	s.waitStopped(first.ID)
	again := s.start(spec)
	if again.ID != first.ID || again.Status != runner.StatusStopped {
		t.Errorf("Start after the task ended = %s (%s), want %s, stopped", again.ID, again.Status, first.ID)
	}
	s.checkLogs(again, lines)
	if s.h.Runs != nil {
		if runs := s.h.Runs(spec.JobID, spec.Attempt); runs != 1 {
			t.Errorf("the task ran %d times, want once", runs)
		}
	}
}

func testAttempts(t *testing.T, s *suite) {
	job := newJobID()
	t1 := s.start(s.spec(Behaviour{Lines: []string{"one"}, ExitCode: 1}, job, 1))
	t2 := s.start(s.spec(Behaviour{Lines: []string{"two"}}, job, 2))
	if t1.ID == t2.ID {
		t.Fatalf("attempts 1 and 2 share task %s", t1.ID)
	}
	g1, g2 := s.waitStopped(t1.ID), s.waitStopped(t2.ID)
	if g1.ExitCode == nil || *g1.ExitCode != 1 || g2.ExitCode == nil || *g2.ExitCode != 0 {
		t.Errorf("exit codes = %s, %s; want 1, 0", fmtExit(g1.ExitCode), fmtExit(g2.ExitCode))
	}
	s.checkLogs(g1, []string{"one"})
	s.checkLogs(g2, []string{"two"})
	for attempt, want := range map[int]string{1: t1.ID, 2: t2.ID} {
		got, err := s.h.Runner.Find(s.ctx(), job, attempt)
		if err != nil || got.ID != want || got.Attempt != attempt {
			t.Errorf("Find(attempt %d) = %s (attempt %d), %v; want %s", attempt, got.ID, got.Attempt, err, want)
		}
	}
	if _, err := s.h.Runner.Find(s.ctx(), job, 3); !errors.Is(err, runner.ErrNotFound) {
		t.Errorf("Find(attempt 3) error = %v, want ErrNotFound", err)
	}
	if s.h.Runs != nil {
		if r1, r2 := s.h.Runs(job, 1), s.h.Runs(job, 2); r1 != 1 || r2 != 1 {
			t.Errorf("runs = %d, %d; want 1, 1", r1, r2)
		}
	}
}

func testFindUnknown(t *testing.T, s *suite) {
	if _, err := s.h.Runner.Find(s.ctx(), newJobID(), 1); !errors.Is(err, runner.ErrNotFound) {
		t.Errorf("Find of an unknown job: error = %v, want ErrNotFound", err)
	}
}

func testInspectBatch(t *testing.T, s *suite) {
	ts, err := s.h.Runner.Inspect(s.ctx())
	if err != nil || len(ts) != 0 {
		t.Errorf("Inspect() = %d tasks, %v; want none, no error", len(ts), err)
	}
	var want []string
	for range 3 {
		want = append(want, s.start(s.spec(Behaviour{}, newJobID(), 1)).ID)
	}
	// Known ids among many unknown ones, with duplicates.
	var ids []string
	for i := range 600 {
		ids = append(ids, fmt.Sprintf("no-such-task-%d", i))
		if i%200 == 0 {
			ids = append(ids, want[i/200], want[i/200])
		}
	}
	ts, err = s.h.Runner.Inspect(s.ctx(), ids...)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	var got []string
	for _, task := range ts {
		got = append(got, task.ID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Inspect returned %v, want %v", got, want)
	}
	for _, id := range want {
		s.waitStopped(id)
	}
}

func testStopSleeping(t *testing.T, s *suite) {
	lines := []string{"going to sleep"}
	task := s.start(s.spec(Behaviour{Lines: lines, Sleep: true}, newJobID(), 1))
	running := WaitFor(t, s.h.Runner, task.ID, s.f.Timeout, "running with its output counted", func(t runner.Task) bool {
		return t.Status == runner.StatusRunning && (!s.f.LogEvents || t.LogEvents == int64(len(lines)))
	})
	if running.StartedAt.IsZero() {
		t.Errorf("a running task has no StartedAt")
	}
	// Running is not written: a task stopped before its script wrote has
	// nothing to show. Wait for the lines in its log.
	s.waitLogged(task.ID, len(lines))
	const reason = "runnertest: stop requested"
	if err := s.h.Runner.Stop(s.ctx(), task.ID, reason); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.h.Runner.Stop(s.ctx(), task.ID, "runnertest: second stop"); err != nil {
		t.Errorf("Stop of a stopping task: %v", err)
	}
	got := s.waitStopped(task.ID)
	if got.StopCode != runner.StopRequested {
		t.Errorf("StopCode = %q (%s), want %q", got.StopCode, got.StopReason, runner.StopRequested)
	}
	if !strings.Contains(got.StopReason, reason) {
		t.Errorf("StopReason = %q, want it to contain %q", got.StopReason, reason)
	}
	if got.ExitCode == nil {
		t.Errorf("a stopped task has no exit code")
	}
	s.checkLogs(got, lines)
	if err := s.h.Runner.Stop(s.ctx(), task.ID, "runnertest: stop after stopped"); err != nil {
		t.Errorf("Stop of a stopped task: %v", err)
	}
	again, err := s.h.Runner.Find(s.ctx(), got.JobID, got.Attempt)
	if err != nil || again.Status != runner.StatusStopped || again.StopCode != runner.StopRequested || !strings.Contains(again.StopReason, reason) {
		t.Errorf("after another Stop: %+v, %v; want it unchanged", again, err)
	}
}

func testStopUnknown(t *testing.T, s *suite) {
	if err := s.h.Runner.Stop(s.ctx(), "no-such-task", "runnertest"); !errors.Is(err, runner.ErrNotFound) {
		t.Errorf("Stop of an unknown task: error = %v, want ErrNotFound", err)
	}
}

func testInvalidSpec(t *testing.T, s *suite) {
	spec := s.spec(Behaviour{NoSuchScript: true}, newJobID(), 1)
	task, err := s.h.Runner.Start(s.ctx(), spec)
	if !errors.Is(err, runner.ErrInvalidSpec) {
		s.mu.Lock()
		s.started = append(s.started, task.ID)
		s.mu.Unlock()
		t.Fatalf("Start of a spec with no such script: %+v, %v; want ErrInvalidSpec", task, err)
	}
	if _, err := s.h.Runner.Find(s.ctx(), spec.JobID, spec.Attempt); !errors.Is(err, runner.ErrNotFound) {
		t.Errorf("Find after a refused Start: error = %v, want ErrNotFound", err)
	}
}

func fmtExit(c *int) string {
	if c == nil {
		return "none"
	}
	return fmt.Sprint(*c)
}
