package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/schemas"
)

// testTimeout bounds every wait of these tests.
const testTimeout = 2 * time.Minute

// rig is a state directory with its configuration, a client on it and,
// once serve is called, a pipeline serving it in this process.
type rig struct {
	t      *testing.T
	c      *client.Client
	dir    string
	config string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir, config, err := writeDeployment(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.OpenEmbedded(context.Background(), client.EmbeddedOptions{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rig{t: t, c: c, dir: dir, config: config}
}

// serve serves the state directory in this process until the test ends,
// and returns once it serves.
func (r *rig) serve() {
	r.t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- r.c.Serve(ctx, client.ServeOptions{Config: r.config, Ready: func() { close(ready) }}) }()
	r.t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			r.t.Errorf("serving: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		r.t.Fatalf("serving: %v", err)
	}
}

// collected is what a follow delivered.
type collected struct {
	mu     sync.Mutex
	lines  []string
	events []schemas.EventType
}

func (c *collected) options() client.FollowOptions {
	return client.FollowOptions{
		OnLine: func(_ int, l schemas.LogLine) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.lines = append(c.lines, l.Text)
		},
		OnEvent: func(ev schemas.JobEvent) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.events = append(c.events, ev.Type)
		},
	}
}

// journaledEnd waits for the journal to record a job's end and returns
// its history.
func (r *rig) journaledEnd(ctx context.Context, jobID string) []schemas.JobEvent {
	r.t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		history, err := r.c.History(ctx, jobID)
		if _, ended := client.Terminal(history); ended && err == nil {
			return history
		}
		select {
		case <-ctx.Done():
			r.t.Fatalf("the journal never recorded the end of job %s: %v (last read: %v)", jobID, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func (r *rig) run(ctx context.Context, script string, args ...string) (client.Job, client.FollowResult, *collected) {
	r.t.Helper()
	job, err := r.c.Submit(ctx, client.Request{Container: "demo", Script: script, Args: args})
	if err != nil {
		r.t.Fatal(err)
	}
	var got collected
	res, err := r.c.Follow(ctx, job.ID, got.options())
	if err != nil {
		r.t.Fatalf("following job %s: %v", job.ID, err)
	}
	return job, res, &got
}

// TestEmbeddedJobFromSubmitToLogs: a job submitted through the client on
// a state directory the client serves runs, its output and exit code
// come back through Follow, and the reads (History, Status, Jobs, Logs)
// tell the same story afterwards.
func TestEmbeddedJobFromSubmitToLogs(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	if served, err := r.c.Served(); err != nil || served {
		t.Fatalf("Served before Serve: %v, %v; want false", served, err)
	}
	r.serve()
	if served, err := r.c.Served(); err != nil || !served {
		t.Fatalf("Served while serving: %v, %v; want true", served, err)
	}
	if r.c.Backend() != client.BackendEmbedded || r.c.StateDir() != r.dir || r.c.ReadOnly() || !strings.Contains(r.c.Where(), r.dir) {
		t.Errorf("Backend %q, StateDir %q, ReadOnly %t, Where %q", r.c.Backend(), r.c.StateDir(), r.c.ReadOnly(), r.c.Where())
	}

	job, res, got := r.run(ctx, "hello", "client")
	if res.ExitCode() != 0 || res.Terminal.Outcome != schemas.OutcomeSucceeded {
		t.Fatalf("terminal %+v, exit %d; want succeeded, 0", res.Terminal, res.ExitCode())
	}
	if want := []string{"hello, client"}; strings.Join(got.lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines %q, want %q", got.lines, want)
	}
	if n := len(got.events); n == 0 || got.events[n-1] != schemas.EventFinished {
		t.Errorf("events %v: want the terminal event last", got.events)
	}

	// Followers hear of the end first; the journal records it a moment
	// later.
	history := r.journaledEnd(ctx, job.ID)
	if term, _ := client.Terminal(history); client.ExitCode(term) != 0 {
		t.Errorf("history %v: want a terminal event with exit 0", history)
	}
	s, err := r.c.Status(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s.State != client.StateSucceeded || s.Container != "demo" || s.Script != "hello" {
		t.Errorf("status %+v", s)
	}
	jobs, err := r.c.Jobs(ctx, client.JobFilter{States: []client.JobState{client.StateSucceeded}})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].JobID != job.ID {
		t.Errorf("jobs %+v, want job %s alone", jobs, job.ID)
	}
	var logs []string
	if _, err := r.c.Logs(ctx, job.ID, func(_ int, l schemas.LogLine) { logs = append(logs, l.Text) }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(logs, "\n") != "hello, client" {
		t.Errorf("logs %q", logs)
	}
	// Following a job that ended finishes from its history.
	var again collected
	res, err = r.c.Follow(ctx, job.ID, again.options())
	if err != nil || res.ExitCode() != 0 {
		t.Fatalf("following the ended job again: %+v, %v", res, err)
	}
}

// TestEmbeddedOutcomes: a failing script's exit code, a request the
// policy refuses (77) and a cancelled job (130) come back as "deployer
// run" reports them.
func TestEmbeddedOutcomes(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	r.serve()

	_, res, got := r.run(ctx, "fail")
	if res.ExitCode() != 3 || strings.Join(got.lines, "|") != "about to fail" {
		t.Errorf("fail: exit %d, lines %q; want 3, [about to fail]", res.ExitCode(), got.lines)
	}
	_, res, _ = r.run(ctx, "no-such-script")
	if res.ExitCode() != client.ExitRejected || res.Terminal.Outcome != schemas.OutcomeRejected {
		t.Errorf("unlisted script: terminal %+v, exit %d; want rejected, %d", res.Terminal, res.ExitCode(), client.ExitRejected)
	}

	job, err := r.c.Submit(ctx, client.Request{Container: "demo", Script: "sleep"})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	var once sync.Once
	followed := make(chan client.FollowResult, 1)
	go func() {
		res, err := r.c.Follow(ctx, job.ID, client.FollowOptions{OnLine: func(int, schemas.LogLine) { once.Do(func() { close(started) }) }})
		if err != nil {
			t.Errorf("following the cancelled job: %v", err)
		}
		followed <- res
	}()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the sleeping job never wrote its line")
	}
	ans, err := r.c.Cancel(ctx, job.ID, client.CancelOptions{Reason: "test"})
	if err != nil || !ans.Accepted {
		t.Fatalf("cancel: %+v, %v", ans, err)
	}
	if res := <-followed; res.ExitCode() != client.ExitCancelled {
		t.Errorf("cancelled job: terminal %+v, exit %d; want %d", res.Terminal, res.ExitCode(), client.ExitCancelled)
	}
}

// TestDescribe: the gatekeeper says what the OS user may run.
func TestDescribe(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	r.serve()
	d, err := r.c.Describe(ctx, client.CallerFromEnv(func(string) string { return "" }))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Containers) != 1 || d.Containers[0].Name != "demo" || !strings.HasPrefix(d.Principal, "u") || d.PolicyDigest == "" {
		t.Errorf("description %+v", d)
	}
}

// TestUnknownJobsBatchesAndLetters: what the backend has no record of is
// ErrNotFound, and following it ErrStreamGone.
func TestUnknownJobsBatchesAndLetters(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	const id = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"
	if _, err := r.c.History(ctx, id); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("History: %v, want ErrNotFound", err)
	}
	if _, err := r.c.Status(ctx, id); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Status: %v, want ErrNotFound", err)
	}
	if _, err := r.c.Logs(ctx, id, nil); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Logs: %v, want ErrNotFound", err)
	}
	if _, err := r.c.Batch(ctx, "batch-"+id); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Batch: %v, want ErrNotFound", err)
	}
	if _, err := r.c.DeadLetter(ctx, id); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("DeadLetter: %v, want ErrNotFound", err)
	}
	if _, err := r.c.Follow(ctx, id, client.FollowOptions{}); !errors.Is(err, client.ErrStreamGone) {
		t.Errorf("Follow: %v, want ErrStreamGone", err)
	}
}

// TestDeadLettersListReplayPurge: a failed job is dead-lettered; the
// client lists and shows it without consuming it, a dry run judges its
// replay, the replay runs it again under a derived id and deletes the
// letter, and purge deletes what is left.
func TestDeadLettersListReplayPurge(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	r.serve()
	failed, res, _ := r.run(ctx, "fail")
	if res.ExitCode() != 3 {
		t.Fatalf("exit %d, want 3", res.ExitCode())
	}
	letters, err := r.c.DeadLetters(ctx, client.DeadLetterOptions{NoReceive: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 1 || letters[0].JobID != failed.ID || letters[0].Queue != client.RunDeadLetters || !letters[0].Replayable() ||
		letters[0].Letter.Failure.Outcome != schemas.OutcomeFailed {
		t.Fatalf("dead letters %+v, want job %s's", letters, failed.ID)
	}
	if got, err := r.c.DeadLetters(ctx, client.DeadLetterOptions{Queue: client.RequestDeadLetters}); err != nil || len(got) != 0 {
		t.Errorf("request dead letters: %+v, %v; want none", got, err)
	}
	if _, err := r.c.DeadLetters(ctx, client.DeadLetterOptions{Queue: "runs"}); err == nil {
		t.Error("an unknown queue name was accepted")
	}
	d, err := r.c.DeadLetter(ctx, failed.ID)
	if err != nil || d.MessageID != letters[0].MessageID {
		t.Fatalf("DeadLetter: %+v, %v", d, err)
	}

	pol, err := policy.Load(r.config, policy.WithLocalBackend())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.ReplayDeadLetters(ctx, client.DeadLetterFilter{All: true}, client.ReplayOptions{}); err == nil {
		t.Error("a replay without a policy was accepted")
	}
	plan, err := r.c.ReplayDeadLetters(ctx, client.DeadLetterFilter{JobIDs: []string{failed.ID}}, client.ReplayOptions{Policy: pol, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 1 || plan[0].Verdict != client.VerdictWouldReplay || !plan[0].Verdict.Ok() || plan[0].ReplayID != failed.ID+"-r1" {
		t.Fatalf("dry run %+v", plan)
	}
	items, err := r.c.ReplayDeadLetters(ctx, client.DeadLetterFilter{JobIDs: []string{failed.ID}}, client.ReplayOptions{Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Verdict != client.VerdictReplayed {
		t.Fatalf("replay %+v", items)
	}
	res, err = r.c.Follow(ctx, items[0].ReplayID, client.FollowOptions{})
	if err != nil || res.ExitCode() != 3 {
		t.Fatalf("the replay: %+v, %v; want exit 3", res, err)
	}
	// The replay failed too: its own letter is the one left.
	letters, err = r.c.DeadLetters(ctx, client.DeadLetterOptions{})
	if err != nil || len(letters) != 1 || letters[0].JobID != items[0].ReplayID {
		t.Fatalf("after the replay: %+v, %v; want the replay's letter alone", letters, err)
	}
	if n, err := r.c.PurgeDeadLetters(ctx, client.PurgeOptions{Before: time.Now().Add(-time.Hour)}); err != nil || n != 0 {
		t.Errorf("purging letters older than an hour: %d, %v; want 0", n, err)
	}
	if n, err := r.c.PurgeDeadLetters(ctx, client.PurgeOptions{}); err != nil || n != 1 {
		t.Errorf("purging all: %d, %v; want 1", n, err)
	}
	if letters, err := r.c.DeadLetters(ctx, client.DeadLetterOptions{}); err != nil || len(letters) != 0 {
		t.Errorf("after purging: %+v, %v", letters, err)
	}
}

// TestBatch: a batch submitted through the client is followed to its
// end and read back.
func TestBatch(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	r.serve()
	id, jobs, err := r.c.SubmitBatch(ctx, client.BatchRequest{Name: "two", Jobs: []client.BatchJobRequest{
		{Container: "demo", Script: "hello", Args: []string{"one"}, Key: "one"},
		{Container: "demo", Script: "fail", Key: "two"},
	}})
	if err != nil || len(jobs) != 2 {
		t.Fatalf("SubmitBatch: %s, %v, %v", id, jobs, err)
	}
	var last client.Batch
	b, err := r.c.FollowBatch(ctx, id, 0, func(b client.Batch, _ []schemas.JobEvent) { last = b }, nil)
	if err != nil {
		// What the batch's jobs were last seen doing says where it stuck.
		var states []string
		for _, j := range last.Jobs {
			states = append(states, fmt.Sprintf("%d %s %s %s", j.Index, j.Key, j.JobID, j.State))
		}
		t.Fatalf("following batch %s: %v; its jobs as last read: %q", id, err, states)
	}
	if !b.Ended() || b.ExitCode() == 0 || len(b.Jobs) != 2 || b.Jobs[0].State != client.StateSucceeded || b.Jobs[1].State != client.StateFailed {
		t.Fatalf("batch %+v", b)
	}
	if got, err := r.c.Batch(ctx, id); err != nil || got.ID != id {
		t.Errorf("Batch: %+v, %v", got, err)
	}
	if list, err := r.c.Batches(ctx, 10); err != nil || len(list) != 1 || list[0].ID != id {
		t.Errorf("Batches: %+v, %v", list, err)
	}
}

// TestReadOnly: a state directory opened read-only is read, and the
// client neither submits nor serves.
func TestReadOnly(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	ro, err := client.OpenEmbedded(ctx, client.EmbeddedOptions{StateDir: r.dir, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ro.Close() }()
	if !ro.ReadOnly() {
		t.Error("ReadOnly() is false")
	}
	if _, err := ro.Jobs(ctx, client.JobFilter{}); err != nil {
		t.Errorf("Jobs: %v", err)
	}
	if _, err := ro.Submit(ctx, client.Request{Container: "demo", Script: "hello"}); err == nil {
		t.Error("a read-only client submitted a job")
	}
	if err := ro.Serve(ctx, client.ServeOptions{Config: r.config}); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("Serve: %v, want a refusal saying read-only", err)
	}
	if _, err := client.OpenEmbedded(ctx, client.EmbeddedOptions{StateDir: t.TempDir() + "/none", ReadOnly: true}); err == nil {
		t.Error("a state directory that does not exist was opened read-only")
	}
}

// TestOpenEmbeddedNeedsAStateDirectory: the options' mistakes are said.
func TestOpenEmbeddedNeedsAStateDirectory(t *testing.T) {
	if _, err := client.OpenEmbedded(context.Background(), client.EmbeddedOptions{}); err == nil || !strings.Contains(err.Error(), "StateDir") {
		t.Errorf("no state directory: %v", err)
	}
	r := newRig(t)
	if err := r.c.Serve(context.Background(), client.ServeOptions{}); err == nil || !strings.Contains(err.Error(), "Config") {
		t.Errorf("Serve without a configuration: %v", err)
	}
}

// TestServeRefusesAProgramThatCannotRunTasks: tasks run as the program
// re-executed, so a program that never called RunTaskProcess (whose main
// would run again in every task) is refused before anything starts,
// unless it names another executable.
func TestServeRefusesAProgramThatCannotRunTasks(t *testing.T) {
	r := newRig(t)
	undo := client.ForgetTaskProcesses()
	defer undo()
	err := r.c.Serve(context.Background(), client.ServeOptions{Config: r.config})
	if err == nil || !strings.Contains(err.Error(), "RunTaskProcess") {
		t.Fatalf("Serve: %v, want a refusal naming RunTaskProcess", err)
	}
	if served, _ := r.c.Served(); served {
		t.Error("the refused Serve marked the state directory served")
	}
}
