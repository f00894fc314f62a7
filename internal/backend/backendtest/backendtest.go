// Package backendtest is the conformance suite of a whole deployment
// (backend.Backend): the behaviours a user sees, run against every
// backend, so that a behaviour only one backend has is a failing test.
//
// A harness starts a deployment serving the suite's allow-list (Config)
// with pipelines that are processes of their own — so that a pipeline can
// be killed with SIGKILL while a script runs — and gives the suite a
// caller's view of it (a Backend opened in the test process). Its
// containers run the suite's scripts (Scripts) through deployer-task.
package backendtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// Config is the allow-list every harness serves. CONTAINER is replaced by
// the harness's stanza saying where the containers' scripts run (e.g.
// "local: {scripts_dir: /dir}" or "task_definition: deployer").
const Config = `
lanes:
  default: {concurrency: 8}
  pair: {concurrency: 2}
  solo: {concurrency: 1}
containers:
  infra:
    CONTAINER
    timeout: 10m
    script_config:
      lines:
        allow_positional_args: true
        allowed_options: []
      fail: {allowed_options: []}
      sleep: {allowed_options: []}
      until:
        allow_positional_args: true
        allowed_options: []
      await:
        allow_positional_args: true
        allowed_options: []
  pair:
    CONTAINER
    lane: pair
    timeout: 10m
    script_config:
      sleep: {allowed_options: []}
  solo:
    CONTAINER
    lane: solo
    timeout: 10m
    script_config:
      sleep: {allowed_options: []}
  short:
    CONTAINER
    timeout: 2s
    script_config:
      sleep: {allowed_options: []}
`

// Scripts are the scripts every container of Config runs, by name.
var Scripts = map[string]string{
	// lines N prints "line 1" to "line N".
	"lines": "#!/bin/sh\ni=1\nwhile [ \"$i\" -le \"$1\" ]; do echo \"line $i\"; i=$((i+1)); done\n",
	// fail prints one line and exits 3.
	"fail": "#!/bin/sh\necho 'about to fail'\nexit 3\n",
	// sleep prints one line and runs until it is stopped.
	"sleep": "#!/bin/sh\necho sleeping\nwhile :; do sleep 0.1; done\n",
	// until FILE prints "waiting", waits for FILE to exist, prints "done"
	// and exits 5.
	"until": "#!/bin/sh\necho waiting\nwhile [ ! -e \"$1\" ]; do sleep 0.05; done\necho done\nexit 5\n",
	// await FILE is until, succeeding.
	"await": "#!/bin/sh\necho waiting\nwhile [ ! -e \"$1\" ]; do sleep 0.05; done\necho done\n",
}

// Harness is one deployment of a backend, serving Config.
type Harness struct {
	// Backend is a caller's view of the deployment.
	Backend backend.Backend
	// Pipeline starts one more pipeline process serving the deployment
	// (gatekeeper, worker, logshipper).
	Pipeline func(t *testing.T) Pipeline
}

// Pipeline is a pipeline process.
type Pipeline interface {
	// Kill ends the process with SIGKILL and waits for it to exit.
	Kill()
}

// Features switch off what a backend cannot do. The zero value asks for
// everything.
type Features struct{}

// Run runs the suite. newHarness starts a deployment serving config (Config
// with the harness's container stanza in place) with no pipeline yet.
func Run(t *testing.T, _ Features, newHarness func(t *testing.T) Harness) {
	h := newHarness(t)
	s := &suite{h: h, pipelines: []Pipeline{h.Pipeline(t)}}
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"RunsToTheScriptsExitCode", s.runsToExitCode},
		{"RejectionEndsTheJob", s.rejection},
		{"TimeoutStopsTheTask", s.timeout},
		{"CancelWhileRunning", s.cancelRunning},
		{"CancelWhileQueued", s.cancelQueued},
		{"DeadLetterAndReplay", s.deadLetterAndReplay},
		{"LaneLimitHolds", s.laneLimit},
		{"TwoFollowersOfOneJob", s.twoFollowers},
		{"DuplicateLogDelivery", s.duplicateLogDelivery},
		{"BatchMaxInFlightHolds", s.batchMaxInFlight},
		{"BatchFailFastCancelsWaitingJobs", s.batchFailFastWaiting},
		{"BatchFailFastStopsRunningJobs", s.batchFailFastRunning},
		{"CanaryReportsTheEntrypointsVersion", s.canary},
		{"CanaryRunsWhileItsLaneIsFull", s.canaryFullLane},
		// Last: a pipeline killed while it waits for run orders keeps
		// the lane slots it reserved for them until they lapse (the
		// worker's reservation ttl), which would hold up the scenarios
		// after it that need the solo lane's one slot.
		{"WorkerKilledMidTask", s.workerKilled},
	} {
		t.Run(tc.name, tc.fn)
	}
}

type suite struct {
	h         Harness
	pipelines []Pipeline
}

func (s *suite) client() *producer.Client { return s.h.Backend.Client() }

// ctx is a test's deadline for one scenario.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	return c
}

func (s *suite) submit(t *testing.T, container, script string, args ...string) producer.Job {
	t.Helper()
	job, err := s.client().Submit(ctx(t), producer.Request{Container: container, Script: script, Args: args})
	if err != nil {
		t.Fatalf("submitting %s %s: %v", container, script, err)
	}
	return job
}

// followed is what a follower saw of a job.
type followed struct {
	lines    []string
	events   []schemas.JobEvent
	terminal schemas.JobEvent
	missing  int64
}

func (f followed) types() []schemas.EventType {
	var ts []schemas.EventType
	for _, ev := range f.events {
		ts = append(ts, ev.Type)
	}
	return ts
}

// follow follows a job to its end; onLine, when set, also sees each line.
func (s *suite) follow(t *testing.T, job producer.Job, onLine func(string)) followed {
	t.Helper()
	f, err := s.followJob(t, job, onLine)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// followAsync follows a job in a goroutine of its own, which must not
// end the test (t.Fatal): a failure is reported and the result is empty.
func (s *suite) followAsync(t *testing.T, job producer.Job, onLine func(string)) <-chan followed {
	out := make(chan followed, 1)
	go func() {
		f, err := s.followJob(t, job, onLine)
		if err != nil {
			t.Error(err)
		}
		out <- f
	}()
	return out
}

func (s *suite) followJob(t *testing.T, job producer.Job, onLine func(string)) (followed, error) {
	var f followed
	res, err := s.client().Follow(ctx(t), job, producer.FollowOptions{
		OnLine: func(_ int, l schemas.LogLine) {
			f.lines = append(f.lines, l.Text)
			if onLine != nil {
				onLine(l.Text)
			}
		},
		OnEvent: func(ev schemas.JobEvent) { f.events = append(f.events, ev) },
	})
	if err != nil {
		return f, fmt.Errorf("following job %s: %w", job.ID, err)
	}
	f.terminal, f.missing = res.Terminal, res.Missing
	return f, nil
}

func numbered(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("line %d", i+1)
	}
	return out
}

func expectLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: %d lines %.200q, want %d lines %.200q", what, len(got), got, len(want), want)
	}
}

func (s *suite) runsToExitCode(t *testing.T) {
	f := s.follow(t, s.submit(t, "infra", "lines", "2500"), nil)
	expectLines(t, "lines 2500", f.lines, numbered(2500))
	if code := producer.ExitCode(f.terminal); code != 0 || f.missing != 0 {
		t.Errorf("exit %d, %d missing; want 0, none", code, f.missing)
	}
	f = s.follow(t, s.submit(t, "infra", "lines", "0"), nil)
	expectLines(t, "lines 0", f.lines, nil)
	f = s.follow(t, s.submit(t, "infra", "fail"), nil)
	expectLines(t, "fail", f.lines, []string{"about to fail"})
	if code := producer.ExitCode(f.terminal); code != 3 || f.terminal.Outcome != schemas.OutcomeFailed {
		t.Errorf("fail: exit %d, outcome %s; want 3, failed", code, f.terminal.Outcome)
	}
}

func (s *suite) rejection(t *testing.T) {
	job := s.submit(t, "infra", "fail", "--destroy")
	f := s.follow(t, job, nil)
	if f.terminal.Type != schemas.EventRejected || producer.ExitCode(f.terminal) != producer.ExitRejected || !strings.Contains(f.terminal.Reason, "--destroy") {
		t.Fatalf("terminal %+v, want a rejection naming --destroy", f.terminal)
	}
	history := s.history(t, job.ID, func(h []schemas.JobEvent) bool { _, ok := producer.Terminal(h); return ok })
	if term, _ := producer.Terminal(history); term.Type != schemas.EventRejected {
		t.Errorf("the journal ends with %+v, want the rejection", term)
	}
}

func (s *suite) timeout(t *testing.T) {
	f := s.follow(t, s.submit(t, "short", "sleep"), nil)
	if f.terminal.Outcome != schemas.OutcomeTimedOut || producer.ExitCode(f.terminal) != producer.ExitTimedOut {
		t.Fatalf("terminal %+v, want timed out", f.terminal)
	}
	expectLines(t, "sleep", f.lines, []string{"sleeping"})
}

func (s *suite) cancel(t *testing.T, jobID string) {
	t.Helper()
	ans, err := s.client().Cancel(ctx(t), jobID, producer.CancelOptions{Reason: "suite"})
	if err != nil || !ans.Accepted {
		t.Fatalf("cancelling %s: %+v, %v", jobID, ans, err)
	}
}

// followUntilLine follows job in the background and returns once its
// first line came; done receives what the follower saw in the end.
func (s *suite) followUntilLine(t *testing.T, job producer.Job) (done <-chan followed) {
	t.Helper()
	first := make(chan struct{})
	var once sync.Once
	out := s.followAsync(t, job, func(string) { once.Do(func() { close(first) }) })
	select {
	case <-first:
	case f := <-out:
		t.Fatalf("job %s ended before printing: %+v", job.ID, f.terminal)
	case <-ctx(t).Done():
		t.Fatalf("job %s never printed", job.ID)
	}
	return out
}

func (s *suite) cancelRunning(t *testing.T) {
	job := s.submit(t, "infra", "sleep")
	done := s.followUntilLine(t, job)
	s.cancel(t, job.ID)
	f := <-done
	if f.terminal.Outcome != schemas.OutcomeCancelled || producer.ExitCode(f.terminal) != producer.ExitCancelled {
		t.Fatalf("terminal %+v, want cancelled", f.terminal)
	}
}

func (s *suite) cancelQueued(t *testing.T) {
	first := s.submit(t, "solo", "sleep")
	running := s.followUntilLine(t, first)
	queued := s.submit(t, "solo", "sleep")
	// The queued job is accepted and waits for the lane's one slot.
	s.history(t, queued.ID, func(h []schemas.JobEvent) bool { return has(h, schemas.EventQueued) })
	s.cancel(t, queued.ID)
	// It ends, without starting, once the lane's slot frees.
	s.cancel(t, first.ID)
	if f := <-running; f.terminal.Outcome != schemas.OutcomeCancelled {
		t.Errorf("running job: terminal %+v, want cancelled", f.terminal)
	}
	f := s.follow(t, queued, nil)
	if f.terminal.Outcome != schemas.OutcomeCancelled || slices.Contains(f.types(), schemas.EventStarted) || len(f.lines) != 0 {
		t.Errorf("queued job: terminal %+v, events %v, lines %q; want cancelled before it started", f.terminal, f.types(), f.lines)
	}
}

func has(h []schemas.JobEvent, typ schemas.EventType) bool {
	return slices.ContainsFunc(h, func(ev schemas.JobEvent) bool { return ev.Type == typ })
}

// history polls the job's journal until cond holds.
func (s *suite) history(t *testing.T, jobID string, cond func([]schemas.JobEvent) bool) []schemas.JobEvent {
	t.Helper()
	c := ctx(t)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last []schemas.JobEvent
	for {
		h, err := s.client().Status(c, jobID)
		if err == nil && cond(h) {
			return h
		}
		last = h
		select {
		case <-c.Done():
			t.Fatalf("job %s: the journal never showed what was waited for; last: %v (err %v)", jobID, types(last), err)
		case <-tick.C:
		}
	}
}

func types(h []schemas.JobEvent) []schemas.EventType {
	var ts []schemas.EventType
	for _, ev := range h {
		ts = append(ts, ev.Type)
	}
	return ts
}

func (s *suite) deadLetterAndReplay(t *testing.T) {
	job := s.submit(t, "infra", "fail")
	if f := s.follow(t, job, nil); producer.ExitCode(f.terminal) != 3 || !f.terminal.DeadLettered {
		t.Fatalf("terminal event: exit %d, dead-lettered %v; want 3, true", producer.ExitCode(f.terminal), f.terminal.DeadLettered)
	}
	s.history(t, job.ID, func(h []schemas.JobEvent) bool { return has(h, schemas.EventDeadLettered) })
	letter, receipt, q := s.deadLetter(t, job.ID)
	if letter.Request == nil || letter.Failure.ExitCode == nil || *letter.Failure.ExitCode != 3 {
		t.Fatalf("dead letter %+v, want the request and exit code 3", letter)
	}
	replay, err := s.client().Resubmit(ctx(t), *letter.Request, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Delete(ctx(t), receipt); err != nil {
		t.Fatal(err)
	}
	f := s.follow(t, replay, nil)
	expectLines(t, "replay", f.lines, []string{"about to fail"})
	if producer.ExitCode(f.terminal) != 3 || replay.ID != producer.NextReplayID(job.ID) {
		t.Errorf("replay %s: exit %d; want job %s, exit 3", replay.ID, producer.ExitCode(f.terminal), producer.NextReplayID(job.ID))
	}
}

// deadLetter finds the job's letter in the run dead-letter queue and
// returns it with its receipt; other letters are left for others.
func (s *suite) deadLetter(t *testing.T, jobID string) (schemas.DeadLetter, string, queue.Queue) {
	t.Helper()
	_, runs := s.h.Backend.DeadLetterQueues()
	c := ctx(t)
	for c.Err() == nil {
		msgs, err := runs.Receive(c, queue.ReceiveOptions{Max: queue.MaxBatch, Wait: time.Second, Visibility: time.Minute})
		if err != nil {
			t.Fatalf("reading the run dead-letter queue: %v", err)
		}
		for _, m := range msgs {
			d, err := schemas.DecodeDeadLetter(m.Body)
			if err == nil && d.JobID == jobID {
				return d, m.Receipt, runs
			}
			_ = runs.ChangeVisibility(c, m.Receipt, 0)
		}
	}
	t.Fatalf("no dead letter of job %s", jobID)
	return schemas.DeadLetter{}, "", nil
}

func (s *suite) laneLimit(t *testing.T) {
	const n, limit = 5, 2
	var jobs []producer.Job
	var dones []<-chan followed
	for range n {
		job := s.submit(t, "pair", "sleep")
		jobs = append(jobs, job)
		dones = append(dones, s.followAsync(t, job, nil))
	}
	// Cancel the jobs as they start, one at a time: each cancel frees the
	// slot for the next.
	for range n {
		var started producer.Job
		s.eventually(t, func() bool {
			for _, j := range jobs {
				h, err := s.client().Status(ctx(t), j.ID)
				if err == nil && has(h, schemas.EventStarted) {
					if _, ended := producer.Terminal(h); !ended && !has(h, schemas.EventCancelRequested) {
						started = j
						return true
					}
				}
			}
			return false
		})
		s.cancel(t, started.ID)
	}
	for _, d := range dones {
		if f := <-d; f.terminal.Outcome != schemas.OutcomeCancelled {
			t.Errorf("terminal %+v, want cancelled", f.terminal)
		}
	}
	// From the journal: at no time were more than limit of them started
	// and not ended.
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, j := range jobs {
		h := s.history(t, j.ID, func(h []schemas.JobEvent) bool { _, ok := producer.Terminal(h); return ok })
		for _, ev := range h {
			switch {
			case ev.Type == schemas.EventStarted:
				edges = append(edges, edge{ev.Time, +1})
			case ev.Type.Terminal() && has(h, schemas.EventStarted):
				edges = append(edges, edge{ev.Time, -1})
			}
		}
	}
	slices.SortStableFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta // an end before a start at the same instant
	})
	running, most := 0, 0
	for _, e := range edges {
		running += e.delta
		most = max(most, running)
	}
	if most > limit {
		t.Errorf("%d jobs ran at once in a lane of limit %d", most, limit)
	}
}

// eventually polls cond until it holds or the scenario's deadline passes.
func (s *suite) eventually(t *testing.T, cond func() bool) {
	t.Helper()
	c := ctx(t)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-c.Done():
			t.Fatal("gave up waiting")
		case <-tick.C:
		}
	}
}

func (s *suite) twoFollowers(t *testing.T) {
	job := s.submit(t, "infra", "lines", "3000")
	first, second := s.followAsync(t, job, nil), s.followAsync(t, job, nil)
	for i, f := range []followed{<-first, <-second} {
		expectLines(t, fmt.Sprintf("follower %d", i+1), f.lines, numbered(3000))
		if producer.ExitCode(f.terminal) != 0 {
			t.Errorf("follower %d: exit %d", i+1, producer.ExitCode(f.terminal))
		}
	}
}

// duplicateLogDelivery: the job's log events delivered again, out of
// order, after it ended, print nothing twice.
func (s *suite) duplicateLogDelivery(t *testing.T) {
	job := s.submit(t, "infra", "lines", "40")
	h := s.history(t, job.ID, func(h []schemas.JobEvent) bool { _, ok := producer.Terminal(h); return ok })
	var taskID string
	var attempt int
	for _, ev := range h {
		if ev.TaskID != "" {
			taskID, attempt = ev.TaskID, ev.Attempt
		}
	}
	lines := numbered(40)
	var dup []schemas.JobEvent
	for i := 30; i >= 0; i -= 10 { // ten lines an event, last first
		ev := schemas.JobEvent{JobID: job.ID, ID: fmt.Sprintf("suite-dup-%d", i), Time: time.Now().UTC(), Type: schemas.EventLog,
			Source: "suite", Attempt: attempt, TaskID: taskID}
		for j := i; j < i+10; j++ {
			ev.Lines = append(ev.Lines, schemas.LogLine{Seq: int64(j + 1), Time: time.Now().UTC(), Text: lines[j]})
		}
		dup = append(dup, ev, ev)
	}
	if err := s.client().Streams.Publish(ctx(t), job.Stream, dup...); err != nil {
		t.Fatal(err)
	}
	f := s.follow(t, job, nil)
	expectLines(t, "lines 40 delivered again", f.lines, lines)
}

// workerKilled: every pipeline killed (SIGKILL) while a script runs; a
// new one adopts the task, and the job ends once, with the script's exit
// code.
func (s *suite) workerKilled(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "go")
	job := s.submit(t, "infra", "until", gate)
	done := s.followUntilLine(t, job)
	for _, p := range s.pipelines {
		p.Kill()
	}
	s.pipelines = []Pipeline{s.h.Pipeline(t)}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f := <-done
	expectLines(t, "until", f.lines, []string{"waiting", "done"})
	if code := producer.ExitCode(f.terminal); code != 5 {
		t.Fatalf("exit %d (terminal %+v), want the script's 5", code, f.terminal)
	}
	h := s.history(t, job.ID, func(h []schemas.JobEvent) bool { _, ok := producer.Terminal(h); return ok })
	tasks, ends := map[string]bool{}, 0
	for _, ev := range h {
		if ev.TaskID != "" {
			tasks[ev.TaskID] = true
		}
		if ev.Type.Terminal() {
			ends++
		}
	}
	if len(tasks) != 1 || ends != 1 {
		t.Errorf("job %s: %d tasks, %d ends in %v; want one task and one end", job.ID, len(tasks), ends, types(h))
	}
}

func (s *suite) submitCanary(t *testing.T, container string) producer.Job {
	t.Helper()
	job, err := s.client().Submit(ctx(t), producer.Request{Container: container, Canary: true})
	if err != nil {
		t.Fatalf("submitting a canary of %s: %v", container, err)
	}
	return job
}

// canary: a canary of a container runs its task through the entrypoint's
// version probe and ends succeeded with the one line "deployer-task
// VERSION"; its accepted event says it is a canary. A canary of a
// container that is not in the allow-list is rejected as any request.
func (s *suite) canary(t *testing.T) {
	f := s.follow(t, s.submitCanary(t, "infra"), nil)
	if f.terminal.Outcome != schemas.OutcomeSucceeded || len(f.lines) != 1 || !strings.HasPrefix(f.lines[0], schemas.CanaryVersionPrefix) {
		t.Fatalf("canary: terminal %+v, lines %q; want succeeded with one line %q…", f.terminal, f.lines, schemas.CanaryVersionPrefix)
	}
	if !slices.ContainsFunc(f.events, func(ev schemas.JobEvent) bool {
		return ev.Type == schemas.EventAccepted && ev.Canary && ev.Container == "infra"
	}) {
		t.Errorf("events %v: no accepted event of a canary of infra", f.types())
	}
	f = s.follow(t, s.submitCanary(t, "nope"), nil)
	if f.terminal.Type != schemas.EventRejected || f.terminal.ReasonCode != "unknown_container" {
		t.Errorf("canary of an unknown container: terminal %+v, want rejected unknown_container", f.terminal)
	}
}

// canaryFullLane: with the one slot of lane solo taken by a job that
// runs until it is cancelled, a canary of a container of that lane runs
// to its end: it takes no lane slot.
func (s *suite) canaryFullLane(t *testing.T) {
	busy := s.submit(t, "solo", "sleep")
	running := s.followUntilLine(t, busy)
	f := s.follow(t, s.submitCanary(t, "solo"), nil)
	if f.terminal.Outcome != schemas.OutcomeSucceeded || len(f.lines) != 1 || !strings.HasPrefix(f.lines[0], schemas.CanaryVersionPrefix) {
		t.Errorf("canary of a full lane: terminal %+v, lines %q; want succeeded", f.terminal, f.lines)
	}
	if h, err := s.client().Status(ctx(t), busy.ID); err != nil || has(h, schemas.EventFinished) {
		t.Errorf("the lane's job ended before the canary (%v): the canary waited for its slot", err)
	}
	s.cancel(t, busy.ID)
	if r := <-running; r.terminal.Outcome != schemas.OutcomeCancelled {
		t.Errorf("the lane's job: terminal %+v, want cancelled", r.terminal)
	}
}
