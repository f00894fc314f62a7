package worker_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/lane"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/internal/stream/sqlitestream"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/worker"
)

// spyBroker hands the worker queues that record each delivery's receipt
// and each visibility extension that succeeded.
type spyBroker struct {
	queue.Broker
	mu       sync.Mutex
	receipts map[string][]string // message id → receipts, oldest first
	extended map[string]int      // receipt → extensions that succeeded
}

func (b *spyBroker) Open(ctx context.Context, name string) (queue.Queue, error) {
	q, err := b.Broker.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return &spyQueue{Queue: q, b: b}, nil
}

// receiptsOf returns the receipts of every delivery of message id so far.
func (b *spyBroker) receiptsOf(id string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.receipts[id])
}

// extensions returns how often the visibility of receipt was extended.
func (b *spyBroker) extensions(receipt string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.extended[receipt]
}

type spyQueue struct {
	queue.Queue
	b *spyBroker
}

func (q *spyQueue) Receive(ctx context.Context, opts queue.ReceiveOptions) ([]queue.Message, error) {
	msgs, err := q.Queue.Receive(ctx, opts)
	q.b.mu.Lock()
	defer q.b.mu.Unlock()
	if q.b.receipts == nil {
		q.b.receipts = map[string][]string{}
	}
	for _, m := range msgs {
		q.b.receipts[m.ID] = append(q.b.receipts[m.ID], m.Receipt)
	}
	return msgs, err
}

func (q *spyQueue) ChangeVisibility(ctx context.Context, receipt string, d time.Duration) error {
	err := q.Queue.ChangeVisibility(ctx, receipt, d)
	if err == nil && d > 0 {
		q.b.mu.Lock()
		defer q.b.mu.Unlock()
		if q.b.extended == nil {
			q.b.extended = map[string]int{}
		}
		q.b.extended[receipt]++
	}
	return err
}

// spyLanes counts the lane lease renewals that succeeded, and calls
// acquired (when set) after each Acquire.
type spyLanes struct {
	lane.Limiter
	mu        sync.Mutex
	renewed   int
	acquired  func(ln, holder string, got bool)
	releasing func(ln, holder string) // before each Release
}

func (l *spyLanes) Release(ctx context.Context, ln, holder string) error {
	l.mu.Lock()
	hook := l.releasing
	l.mu.Unlock()
	if hook != nil {
		hook(ln, holder)
	}
	return l.Limiter.Release(ctx, ln, holder)
}

func (l *spyLanes) Acquire(ctx context.Context, ln string, limit int, holder string, ttl time.Duration) (bool, error) {
	got, err := l.Limiter.Acquire(ctx, ln, limit, holder, ttl)
	l.mu.Lock()
	hook := l.acquired
	l.mu.Unlock()
	if err == nil && hook != nil {
		hook(ln, holder, got)
	}
	return got, err
}

func (l *spyLanes) Renew(ctx context.Context, ln, holder string, ttl time.Duration) error {
	err := l.Limiter.Renew(ctx, ln, holder, ttl)
	if err == nil {
		l.mu.Lock()
		l.renewed++
		l.mu.Unlock()
	}
	return err
}

func (l *spyLanes) renewals() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.renewed
}

// leases lists the live leases of the rig's lane.
func (r *rig) leases(t *testing.T) []lane.Lease {
	t.Helper()
	ls, err := r.lanes.Leases(context.Background(), "default")
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func waitStarted(t *testing.T, r *rig, want string) {
	t.Helper()
	select {
	case id := <-r.runner.started:
		if id != want {
			t.Fatalf("task %s started, want %s", id, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("task %s did not start", want)
	}
}

// oneSecond gives the worker a 1s visibility: heartbeats every 333ms.
func oneSecond(o *worker.Options) { o.Visibility = time.Second }

// TestDuplicateDeliveryKeepsTheOrderAndTheSlot: the queue delivers a run
// order again while the worker tracks its job (SQS may, and so does any
// queue whose visibility lapses). The worker must neither delete the
// order, which the live job still needs should the worker die, nor
// change what the lane counts for the job; it keeps tracking with the
// newest receipt, the one the queue now honours.
func TestDuplicateDeliveryKeepsTheOrderAndTheSlot(t *testing.T) {
	r := newRig(t, oneSecond)
	ctx := context.Background()
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D4B"
	o := order(job)
	o.LaneLimit = 2 // room for the worker to receive the duplicate
	id := r.sendID(t, o)
	waitStarted(t, r, taskID(job, 1))
	first := r.broker.receiptsOf(id)[0]

	// Deliver it again now.
	if err := r.lane.ChangeVisibility(ctx, first, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second delivery", func() bool { return len(r.broker.receiptsOf(id)) == 2 })
	second := r.broker.receiptsOf(id)[1]
	waitFor(t, "heartbeats with the newest receipt", func() bool { return r.broker.extensions(second) >= 2 })
	// The order outlives the worker: stopped, the worker hands it back.
	r.stop()
	msgs, err := r.lane.Receive(ctx, queue.ReceiveOptions{Max: queue.MaxBatch, Wait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].ID != id {
		t.Fatalf("after the worker stopped the lane queue holds %d orders, want the job's: the duplicate deleted it", len(msgs))
	}
	// And the lane still counts the job's task, once.
	if ls := r.leases(t); len(ls) != 1 {
		t.Fatalf("lane leases after the worker stopped: %v, want the running task's one", ls)
	}
}

// TestHeartbeatsWhileInspectionBlocks: an inspection that hangs (a
// DescribeTasks that never answers) must not let the run order's
// visibility or the lane lease lapse.
func TestHeartbeatsWhileInspectionBlocks(t *testing.T) {
	r := newRig(t, oneSecond)
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D4C"
	r.runner.blockInspect(t, false)
	id := r.sendID(t, order(job))
	waitStarted(t, r, taskID(job, 1))
	select {
	case <-r.runner.inspecting:
	case <-time.After(20 * time.Second):
		t.Fatal("the worker never inspected the task")
	}
	receipt := r.broker.receiptsOf(id)[0]
	extended, renewed := r.broker.extensions(receipt), r.lanes.renewals()
	// Three beats span the whole 1s visibility.
	waitFor(t, "visibility extended while inspection hangs", func() bool { return r.broker.extensions(receipt) >= extended+3 })
	waitFor(t, "lane lease renewed while inspection hangs", func() bool { return r.lanes.renewals() >= renewed+3 })
	msgs, err := r.lane.Receive(context.Background(), queue.ReceiveOptions{Max: 1})
	if err != nil || len(msgs) != 0 {
		t.Fatalf("the tracked run order was receivable (%d, %v)", len(msgs), err)
	}
}

// TestEveryInspectionHasADeadline: an inspection that waits for its
// context gives up after CallTimeout, and the next one runs.
func TestEveryInspectionHasADeadline(t *testing.T) {
	r := newRig(t, func(o *worker.Options) { o.CallTimeout = 50 * time.Millisecond })
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D4D"
	r.runner.blockInspect(t, true)
	r.send(t, order(job))
	waitStarted(t, r, taskID(job, 1))
	waitFor(t, "three inspections", func() bool { return r.runner.inspectCalls() >= 3 })
}

// TestHandBackKeepsTheLaneCountingTheTask: a worker that stops while its
// job's task runs hands the run order back, but not the lane slot: the
// task still runs. Another worker that cannot adopt the job yet (the
// lane is full) keeps the slot counted while the task runs, frees it
// when the task ends, and then adopts and ends the job. Meanwhile no
// other job of the lane starts.
func TestHandBackKeepsTheLaneCountingTheTask(t *testing.T) {
	r := newRig(t, oneSecond)
	ctx := context.Background()
	const x, y = "01JD3Q8Z5W6X7Y8Z9A0B1C2D4E", "01JD3Q8Z5W6X7Y8Z9A0B1C2D4F"
	ox, oy := order(x), order(y)
	ox.LaneLimit, oy.LaneLimit = 1, 1
	r.send(t, ox)
	waitStarted(t, r, taskID(x, 1))

	// A second worker learns the lane's limit from y, which finds the
	// lane full.
	r.start(t, oneSecond)
	yID := r.sendID(t, oy)
	waitFor(t, "the second worker to see y", func() bool { return len(r.broker.receiptsOf(yID)) > 0 })

	r.stop() // the first worker hands x back; its task runs on
	ls := r.leases(t)
	if len(ls) != 1 {
		t.Fatalf("lane leases after the hand-back: %v, want one for x's running task", ls)
	}
	if ok, err := r.lanes.Acquire(ctx, "default", 1, "intruder", time.Minute); err != nil || ok {
		t.Fatalf("the lane of limit 1 took another job (%v) while x's task ran", err)
	}
	held := ls[0]
	// Past the expiry the hand-back left it, the lease is still kept.
	waitFor(t, "x's lease kept while its task runs", func() bool {
		ls := r.leases(t)
		if len(ls) != 1 || ls[0].Holder != held.Holder {
			t.Fatalf("lane leases while x's task runs: %v, want %s's", ls, held.Holder)
		}
		return ls[0].Expires.After(held.Expires.Add(time.Second))
	})
	if _, ok := r.task(y); ok {
		t.Fatal("y started while x's task ran in a lane of limit 1")
	}

	r.runner.exit(taskID(x, 1), 0)
	ev, _ := r.terminal(t, x)
	if ev.Type != schemas.EventFinished || ev.Outcome != schemas.OutcomeSucceeded {
		t.Fatalf("x ended %s/%s, want finished/succeeded", ev.Type, ev.Outcome)
	}
	waitStarted(t, r, taskID(y, 1))
}

func TestAbortBeforeRun(t *testing.T) {
	r := newRig(t)
	w, err := worker.New(r.ports(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	w.Abort()
	w.Abort()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Run(ctx); err != nil {
		t.Fatalf("Run after Abort: %v", err)
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := worker.New(worker.Ports{}, worker.Options{
		Capacity: -1, Visibility: 50 * time.Millisecond, Poll: -time.Second, ReceiveWait: time.Minute,
		Discover: -1, DrainTimeout: -1, StartTimeout: -1, CallTimeout: -1,
	})
	if err == nil {
		t.Fatal("New accepted no ports and bad options")
	}
	for _, want := range []string{
		"Broker", "DeadLetters", "Runner", "Streams", "Lanes",
		"Capacity", "Visibility", "Poll", "ReceiveWait", "Discover", "DrainTimeout", "StartTimeout", "CallTimeout",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New's error does not mention %s: %v", want, err)
		}
	}
	if err := (&worker.Worker{}).Run(context.Background()); err == nil {
		t.Error("Run of a worker without ports returned no error")
	}

	r := newRig(t)
	w, err := worker.New(r.ports(), worker.Options{})
	if err != nil {
		t.Fatalf("New with zero options: %v", err)
	}
	if w.Visibility != worker.DefaultVisibility || w.Capacity != worker.DefaultCapacity || w.CallTimeout != worker.DefaultCallTimeout {
		t.Errorf("zero options gave %+v, want the defaults", w.Options)
	}
	if err := (worker.Options{Visibility: worker.MinVisibility}).Validate(); err != nil {
		t.Errorf("the minimum visibility is refused: %v", err)
	}
}

// spyStreams calls publishing (when set) before each Publish.
type spyStreams struct {
	stream.Streams
	mu         sync.Mutex
	publishing func(ev schemas.JobEvent)
}

func (s *spyStreams) Publish(ctx context.Context, address string, events ...schemas.JobEvent) error {
	s.mu.Lock()
	hook := s.publishing
	s.mu.Unlock()
	if hook != nil {
		for _, ev := range events {
			hook(ev)
		}
	}
	return s.Streams.Publish(ctx, address, events...)
}

// TestStartedIsPublishedBeforeTheTasksEnd: a task that has ended by the
// time its start returns (a no-op script on a loaded machine) has its
// started event on the stream before its terminal one. A follower stops
// reading at the terminal event: published after it, "started task" was
// never printed. Here the started event's publish is held while the
// worker inspects its tasks: an inspection that saw the job then would
// end it first.
func TestStartedIsPublishedBeforeTheTasksEnd(t *testing.T) {
	r := newRig(t)
	const running, quick = "01JD3Q8Z5W6X7Y8Z9A0B1C2D5A", "01JD3Q8Z5W6X7Y8Z9A0B1C2D5B"
	// A task that keeps running, so that every inspection calls Inspect.
	r.send(t, order(running))
	waitStarted(t, r, taskID(running, 1))

	r.runner.mu.Lock()
	r.runner.exits[taskID(quick, 1)] = 0 // stopped as it starts
	r.runner.mu.Unlock()
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	releaseOnce := func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseOnce)
	r.published.mu.Lock()
	r.published.publishing = func(ev schemas.JobEvent) {
		if ev.JobID == quick && ev.Type == schemas.EventStarted {
			close(held)
			<-release
		}
	}
	r.published.mu.Unlock()
	r.send(t, order(quick))
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("the quick job's started event was never published")
	}
	// Three calls from now: the third's pass began after the second's,
	// which began while the publish was held, had ended.
	since := r.runner.inspectCalls()
	waitFor(t, "two inspections while the started event is held", func() bool { return r.runner.inspectCalls() >= since+3 })
	releaseOnce()
	end, all := r.terminal(t, quick)
	if end.Type != schemas.EventFinished {
		t.Fatalf("terminal event %s, want finished", end.Type)
	}
	var types []schemas.EventType
	for _, ev := range all {
		types = append(types, ev.Type)
	}
	if !slices.Contains(types, schemas.EventStarted) {
		t.Fatalf("events up to the terminal one: %v; started is missing", types)
	}
	r.runner.exit(taskID(running, 1), 0)
	r.terminal(t, running)
}

// TestAJobsEndIsOneWrite: where the backend makes a step's writes one
// (Together), a job's terminal event is seen with its run order settled
// and its lane lease given back, never before them: whoever sees the job
// finished finds its lane slot free. Writing one by one (AWS), the event
// is seen first. Here the lease's release is held while another
// connection (as another process) reads the job's stream.
func TestAJobsEndIsOneWrite(t *testing.T) {
	for _, together := range []bool{false, true} {
		t.Run(fmt.Sprintf("together=%v", together), func(t *testing.T) {
			const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D6A"
			r := newRig(t)
			r.stop()
			if together {
				r.together = func(ctx context.Context, fn func(context.Context) error) error {
					return sqlitedb.Together(ctx, r.db, fn)
				}
			}
			held, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			releaseOnce := func() { once.Do(func() { close(release) }) }
			t.Cleanup(releaseOnce)
			r.lanes.mu.Lock()
			r.lanes.releasing = func(_, holder string) {
				if strings.Contains(holder, job) {
					close(held)
					<-release
				}
			}
			r.lanes.mu.Unlock()
			r.runner.mu.Lock()
			r.runner.exits[taskID(job, 1)] = 0 // stopped as it starts
			r.runner.mu.Unlock()
			r.start(t)
			r.send(t, order(job))
			select {
			case <-held:
			case <-time.After(20 * time.Second):
				t.Fatal("the job's lane lease was never released")
			}
			sub, err := r.streams.Subscribe(t.Context(), sqlitestream.Address(job))
			if err != nil {
				t.Fatal(err)
			}
			evs, err := sub.Next(t.Context(), 0)
			_ = sub.Close()
			if err != nil {
				t.Fatal(err)
			}
			finished := slices.ContainsFunc(evs, func(ev schemas.JobEvent) bool { return ev.Type == schemas.EventFinished })
			if finished == together {
				t.Errorf("while the lease's release is held, the finished event is seen: %v; want %v", finished, !together)
			}
			releaseOnce()
			if end, _ := r.terminal(t, job); end.Type != schemas.EventFinished {
				t.Fatalf("terminal event %s, want finished", end.Type)
			}
		})
	}
}
