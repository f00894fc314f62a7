package worker_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/internal/journal/sqlitejournal"
	"github.com/deployerhq/deployer/internal/lane/sqlitelane"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/queue/sqlitequeue"
	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/internal/stream/sqlitestream"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/internal/writes"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeRunner runs nothing: tasks stay running until the test ends them or
// the worker stops them. Start is idempotent per job and attempt, as the
// port requires.
type fakeRunner struct {
	mu     sync.Mutex
	tasks  map[string]*runner.Task
	starts map[string]int
	exits  map[string]int // task id → exit code to end with at once
	fails  map[string]error
	specs  map[string]runner.Spec // by task id, as last started
	finds  int                    // calls of Find
	// started receives the id of every task started.
	started chan string
	// inspects counts calls of Inspect; when gate is set, Inspect
	// reports on inspecting and blocks until gate closes (or, with
	// honourCtx, until its context ends).
	inspects   int
	gate       chan struct{}
	honourCtx  bool
	inspecting chan struct{}
}

func newFakeRunner() *fakeRunner {
	return &fakeRunner{tasks: map[string]*runner.Task{}, starts: map[string]int{}, exits: map[string]int{},
		fails: map[string]error{}, specs: map[string]runner.Spec{}, started: make(chan string, 100)}
}

func taskID(job string, attempt int) string { return fmt.Sprintf("t-%s-%d", job, attempt) }

func (f *fakeRunner) Start(_ context.Context, s runner.Spec) (runner.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := taskID(s.JobID, s.Attempt)
	f.starts[id]++
	f.specs[id] = s
	if err := f.fails[id]; err != nil {
		return runner.Task{}, err
	}
	if t, ok := f.tasks[id]; ok {
		return *t, nil
	}
	t := &runner.Task{ID: id, JobID: s.JobID, Attempt: s.Attempt, Status: runner.StatusRunning, StartedAt: time.Now(), LogEvents: 0}
	if code, ok := f.exits[id]; ok {
		t.Status, t.ExitCode, t.StopCode, t.StoppedAt = runner.StatusStopped, &code, runner.StopExited, time.Now()
	}
	f.tasks[id] = t
	f.started <- id
	return *t, nil
}

func (f *fakeRunner) Find(_ context.Context, job string, attempt int) (runner.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finds++
	if t, ok := f.tasks[taskID(job, attempt)]; ok {
		return *t, nil
	}
	return runner.Task{}, runner.ErrNotFound
}

func (f *fakeRunner) Inspect(ctx context.Context, ids ...string) ([]runner.Task, error) {
	f.mu.Lock()
	f.inspects++
	gate, honourCtx := f.gate, f.honourCtx
	f.mu.Unlock()
	if gate != nil {
		select {
		case f.inspecting <- struct{}{}:
		default:
		}
		var done <-chan struct{}
		if honourCtx {
			done = ctx.Done()
		}
		select {
		case <-gate:
		case <-done:
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runner.Task
	for _, id := range ids {
		if t, ok := f.tasks[id]; ok {
			out = append(out, *t)
		}
	}
	return out, nil
}

// blockInspect makes every Inspect block (see gate) until the returned
// release is called; the test's cleanup calls it too.
func (f *fakeRunner) blockInspect(t *testing.T, honourCtx bool) (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gate, f.honourCtx, f.inspecting = make(chan struct{}), honourCtx, make(chan struct{}, 1)
	var once sync.Once
	release = func() { once.Do(func() { close(f.gate) }) }
	t.Cleanup(release)
	return release
}

func (f *fakeRunner) inspectCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inspects
}

// exit ends a running task as if its script exited with code.
func (f *fakeRunner) exit(id string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.tasks[id]; ok && t.Status != runner.StatusStopped {
		t.Status, t.ExitCode, t.StopCode, t.StoppedAt = runner.StatusStopped, &code, runner.StopExited, time.Now()
	}
}

func (f *fakeRunner) Stop(_ context.Context, id, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tasks[id]
	if !ok {
		return runner.ErrNotFound
	}
	if t.Status != runner.StatusStopped {
		code := 143
		t.Status, t.ExitCode, t.StopCode, t.StopReason, t.StoppedAt = runner.StatusStopped, &code, runner.StopRequested, reason, time.Now()
	}
	return nil
}

type rig struct {
	// db is the state database every adapter of the rig writes.
	db        *sql.DB
	lane, dlq queue.Queue
	// cancels is the cancel queue.
	cancels queue.Queue
	streams *sqlitestream.Streams
	// published is the worker's view of streams, spied on.
	published *spyStreams
	journal   *sqlitejournal.Journal
	runner    *fakeRunner
	// broker and lanes are the worker's, spied on.
	broker *spyBroker
	lanes  *spyLanes
	// stop stops the worker (handing its jobs back) and waits for Run to
	// return; later calls do nothing.
	stop func()
	// w is the first worker started on the rig.
	w *worker.Worker
	// together is the Together of the workers started from now on;
	// none (writes one by one, as on AWS) unless a test sets it.
	together writes.Together
}

// testOptions are the rig's worker options: quick polls, short waits.
func testOptions() worker.Options {
	return worker.Options{Poll: 10 * time.Millisecond, ReceiveWait: 100 * time.Millisecond, Visibility: 3 * time.Second, Discover: time.Hour}
}

func newRig(t *testing.T, tweak ...func(*worker.Options)) *rig {
	t.Helper()
	db, err := sqlitedb.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	broker, err := sqlitequeue.New(db, sqlitequeue.Options{SenderID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	streams, _ := sqlitestream.New(db, sqlitestream.Options{})
	journal, _ := sqlitejournal.New(db, sqlitejournal.Options{})
	lanes, _ := sqlitelane.New(db, sqlitelane.Options{})
	r := &rig{db: db, streams: streams, published: &spyStreams{Streams: streams}, journal: journal, runner: newFakeRunner(),
		broker: &spyBroker{Broker: broker}, lanes: &spyLanes{Limiter: lanes}}
	if r.dlq, err = broker.Create(ctx, topology.RunDLQ, queue.Config{}); err != nil {
		t.Fatal(err)
	}
	if r.lane, err = broker.Create(ctx, topology.LaneQueue("default"), queue.Config{}); err != nil {
		t.Fatal(err)
	}
	// The cancel queue redrives as the backends create it, so a cancel
	// order the worker kept too long would reach the dead-letter queue raw.
	if r.cancels, err = broker.Create(ctx, topology.CancelQueue, topology.RunQueueConfig()); err != nil {
		t.Fatal(err)
	}
	r.stop = r.start(t, tweak...)
	return r
}

// ports are the rig's adapters, as a worker gets them.
func (r *rig) ports() worker.Ports {
	return worker.Ports{Broker: r.broker, DeadLetters: r.dlq, Runner: r.runner, Streams: r.published, Journal: r.journal, Lanes: r.lanes,
		Together: r.together}
}

// start runs another worker on the rig's state (as another process
// would) and returns its stop.
func (r *rig) start(t *testing.T, tweak ...func(*worker.Options)) (stop func()) {
	t.Helper()
	o := testOptions()
	for _, f := range tweak {
		f(&o)
	}
	w, err := worker.New(r.ports(), o)
	if err != nil {
		t.Fatal(err)
	}
	if r.w == nil {
		r.w = w
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func (r *rig) send(t *testing.T, o schemas.RunOrder) {
	t.Helper()
	r.sendID(t, o)
}

// sendID sends the run order and returns its message id.
func (r *rig) sendID(t *testing.T, o schemas.RunOrder) string {
	t.Helper()
	if _, err := r.streams.Create(context.Background(), o.JobID, time.Hour); err != nil {
		t.Fatal(err)
	}
	body, err := o.Encode()
	if err != nil {
		t.Fatal(err)
	}
	ids, err := r.lane.Send(context.Background(), queue.Outgoing{Body: body})
	if err != nil {
		t.Fatal(err)
	}
	return ids[0]
}

// terminal follows the job's stream to its terminal event.
func (r *rig) terminal(t *testing.T, job string) (schemas.JobEvent, []schemas.JobEvent) {
	t.Helper()
	sub, err := r.streams.Subscribe(context.Background(), sqlitestream.Address(job))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	var all []schemas.JobEvent
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		evs, err := sub.Next(context.Background(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			all = append(all, ev)
			if ev.Type.Terminal() {
				return ev, all
			}
		}
	}
	t.Fatalf("no terminal event for job %s; got %d events", job, len(all))
	return schemas.JobEvent{}, nil
}

// waitFor polls cond every 10ms until it holds, failing the test after
// 20s with what.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func order(job string) schemas.RunOrder {
	return schemas.RunOrder{
		JobID: job, Attempt: 1, Container: "c", Script: "s", Stream: sqlitestream.Address(job),
		Timeout: schemas.Duration(time.Hour), Lane: "default", LaneLimit: 4,
		Request: schemas.JobRequest{JobID: job, Container: "c", Script: "s", Stream: sqlitestream.Address(job), Attempt: 1},
	}
}

func TestRetryPolicyRunsTheNextAttempt(t *testing.T) {
	r := newRig(t)
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"
	r.runner.exits[taskID(job, 1)] = 3
	r.runner.exits[taskID(job, 2)] = 0
	o := order(job)
	o.Retry = schemas.RetryPolicy{MaxAttempts: 2, OnExitCodes: []int{3}}
	r.send(t, o)
	ev, all := r.terminal(t, job)
	if ev.Attempt != 2 || ev.Outcome != schemas.OutcomeSucceeded {
		t.Fatalf("terminal %s attempt %d outcome %s, want attempt 2 succeeded", ev.Type, ev.Attempt, ev.Outcome)
	}
	var retried bool
	for _, e := range all {
		retried = retried || (e.Type == schemas.EventQueued && strings.Contains(e.Reason, "attempt 2 of 2"))
	}
	if !retried {
		t.Error("no queued event announcing the retry")
	}
	if msgs, _ := r.dlq.Receive(context.Background(), queue.ReceiveOptions{Max: 10}); len(msgs) != 0 {
		t.Errorf("a retried job that then succeeded was dead-lettered")
	}
}

func TestTimeoutStopsTheTaskAndDeadLetters(t *testing.T) {
	r := newRig(t)
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3F"
	o := order(job)
	o.Timeout = schemas.Duration(50 * time.Millisecond)
	r.send(t, o)
	ev, _ := r.terminal(t, job)
	if ev.Type != schemas.EventFailed || ev.Outcome != schemas.OutcomeTimedOut {
		t.Fatalf("terminal %s/%s, want failed/timed_out", ev.Type, ev.Outcome)
	}
	msgs, err := r.dlq.Receive(context.Background(), queue.ReceiveOptions{Max: 10, Wait: 5 * time.Second})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("dead letters %d (%v), want 1", len(msgs), err)
	}
	dl, err := schemas.DecodeDeadLetter(msgs[0].Body)
	if err != nil || dl.Failure.Outcome != schemas.OutcomeTimedOut || dl.Order == nil || dl.Request == nil {
		t.Fatalf("dead letter %+v (%v)", dl, err)
	}
}

func TestDeadLetterOnComesFromTheOrder(t *testing.T) {
	r := newRig(t)
	const failing, timing = "01JD3Q8Z5W6X7Y8Z9A0B1C2D4A", "01JD3Q8Z5W6X7Y8Z9A0B1C2D4B"
	r.runner.exits[taskID(failing, 1)] = 1
	o := order(failing)
	o.DeadLetterOn = []schemas.Outcome{} // e.g. a plan: its failures need no replay
	r.send(t, o)
	if ev, _ := r.terminal(t, failing); ev.Outcome != schemas.OutcomeFailed {
		t.Fatalf("terminal outcome %s, want failed", ev.Outcome)
	}
	o = order(timing)
	o.Timeout = schemas.Duration(50 * time.Millisecond)
	o.DeadLetterOn = []schemas.Outcome{schemas.OutcomeTimedOut}
	r.send(t, o)
	if ev, _ := r.terminal(t, timing); ev.Outcome != schemas.OutcomeTimedOut {
		t.Fatalf("terminal outcome %s, want timed_out", ev.Outcome)
	}
	msgs, err := r.dlq.Receive(context.Background(), queue.ReceiveOptions{Max: 10, Wait: time.Second})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("dead letters %d (%v), want 1: the timed-out job's only", len(msgs), err)
	}
	if dl, err := schemas.DecodeDeadLetter(msgs[0].Body); err != nil || dl.JobID != timing {
		t.Fatalf("dead letter %+v (%v), want job %s's", dl, err, timing)
	}
}

func TestDuplicateDeliveryStartsOneTask(t *testing.T) {
	r := newRig(t)
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3G"
	o := order(job)
	r.send(t, o)
	r.send(t, o) // the queue delivered it twice
	select {
	case <-r.runner.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no task started")
	}
	if err := r.runner.Stop(context.Background(), taskID(job, 1), "ended by the test"); err != nil {
		t.Fatal(err)
	}
	r.terminal(t, job)
	r.runner.mu.Lock()
	defer r.runner.mu.Unlock()
	if len(r.runner.tasks) != 1 {
		t.Fatalf("%d tasks for one job and attempt", len(r.runner.tasks))
	}
}

// TestJobsCountsTrackedJobs: Jobs counts a job from its take to its end,
// so that a server stopping when idle never leaves one behind.
func TestJobsCountsTrackedJobs(t *testing.T) {
	r := newRig(t)
	if n := r.w.Jobs(); n != 0 {
		t.Fatalf("Jobs() = %d before any job", n)
	}
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3J"
	r.send(t, order(job))
	select {
	case <-r.runner.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no task started")
	}
	if n := r.w.Jobs(); n != 1 {
		t.Fatalf("Jobs() = %d while its task runs, want 1", n)
	}
	if err := r.runner.Stop(context.Background(), taskID(job, 1), "ended by the test"); err != nil {
		t.Fatal(err)
	}
	r.terminal(t, job)
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for r.w.Jobs() != 0 {
		select {
		case <-deadline:
			t.Fatalf("Jobs() = %d long after the job ended", r.w.Jobs())
		case <-tick.C:
		}
	}
}

func TestUndecodableRunOrderIsDeadLettered(t *testing.T) {
	r := newRig(t)
	if _, err := r.lane.Send(context.Background(), queue.Outgoing{Body: []byte(`{"schema":"run_order/v9"}`)}); err != nil {
		t.Fatal(err)
	}
	msgs, err := r.dlq.Receive(context.Background(), queue.ReceiveOptions{Max: 1, Wait: 10 * time.Second})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("dead letters %d (%v), want 1", len(msgs), err)
	}
	dl, err := schemas.DecodeDeadLetter(msgs[0].Body)
	if err != nil || dl.Failure.ReasonCode != "unsupported_schema" || dl.Raw == "" {
		t.Fatalf("dead letter %+v (%v)", dl, err)
	}
}

// syncWriter serializes writes of a logger's handler for the test to read.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// TestJobFinishedLogsTheExitCode: "deployer up -v" logs with slog's text
// handler, which prints a pointer as its address.
func TestJobFinishedLogsTheExitCode(t *testing.T) {
	var logged syncWriter
	r := newRig(t, func(o *worker.Options) { o.Logger = slog.New(slog.NewTextHandler(&logged, nil)) })
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3F"
	r.runner.mu.Lock()
	r.runner.exits[taskID(job, 1)] = 3
	r.runner.mu.Unlock()
	r.send(t, order(job))
	r.terminal(t, job)
	r.stop() // the record follows the terminal event; a stopped worker has written it
	var finished string
	for line := range strings.Lines(logged.String()) {
		if strings.Contains(line, `msg="job finished"`) {
			finished = line
		}
	}
	if finished == "" {
		t.Fatalf("no \"job finished\" record in the log:\n%s", logged.String())
	}
	if !strings.Contains(finished, " exit_code=3") {
		t.Errorf("job finished record without exit_code=3: %s", finished)
	}
}
