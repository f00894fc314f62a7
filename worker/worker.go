package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/internal/lane"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/schemas"
)

// Names shared with the gatekeeper (adapters may add a prefix).
const (
	LaneQueuePrefix = "runs-lane-"
	RunDLQ          = "runs-dlq"
)

// Options tune a worker. Zero values take the defaults.
type Options struct {
	// ID names the worker in lane leases and logs. Defaults to host:pid.
	ID string
	// Capacity is how many jobs the worker tracks at once. Defaults to 32.
	Capacity int
	// Visibility is how long a tracked run order stays hidden between
	// heartbeats; heartbeats run every Visibility/3. Defaults to 60s.
	Visibility time.Duration
	// Poll is how often tracked tasks are inspected. Defaults to 2s.
	Poll time.Duration
	// ReceiveWait is the long-poll wait of each receive. Defaults to 20s.
	ReceiveWait time.Duration
	// Discover is how often lane queues are listed. Defaults to 30s.
	Discover time.Duration
	// DrainTimeout is how long a stopping worker keeps tracking its tasks
	// before handing them back. Defaults to 0: hand back at once.
	DrainTimeout time.Duration
	// StartTimeout bounds the retries of a task start that fails for a
	// transient reason (capacity, throttling). Defaults to 5m.
	StartTimeout time.Duration
	Logger       *slog.Logger
}

func (o *Options) defaults() {
	if o.ID == "" {
		host, _ := os.Hostname()
		o.ID = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if o.Capacity <= 0 {
		o.Capacity = 32
	}
	if o.Visibility <= 0 {
		o.Visibility = time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	if o.ReceiveWait <= 0 {
		o.ReceiveWait = queue.MaxWait
	}
	if o.Discover <= 0 {
		o.Discover = 30 * time.Second
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 5 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Worker runs jobs. Build it with its ports and call Run.
type Worker struct {
	// Broker finds the lane run queues (names starting LaneQueuePrefix).
	Broker queue.Broker
	// DeadLetters is the run dead-letter queue.
	DeadLetters queue.Queue
	Runner      runner.Runner
	Streams     stream.Streams
	Journal     journal.Journal
	Lanes       lane.Limiter
	Options

	mu       sync.Mutex
	jobs     map[string]*job // by job id + attempt
	limits   map[string]int  // lane → limit, learned from orders
	slots    chan struct{}   // capacity semaphore
	changed  chan struct{}   // a job ended or a lease was released
	abort    chan struct{}
	abortOne sync.Once
}

// job is a run order being seen through.
type job struct {
	order   schemas.RunOrder
	msg     queue.Message
	q       queue.Queue
	holder  string
	task    runner.Task
	started bool
	// stopping records why the worker asked the task to stop.
	stopping string
	done     chan struct{}
}

func key(jobID string, attempt int) string { return fmt.Sprintf("%s/%d", jobID, attempt) }

// Run receives and runs jobs until ctx ends, then drains (see Options). It
// returns when every job it took is finished or handed back.
func (w *Worker) Run(ctx context.Context) error {
	w.defaults()
	w.jobs = map[string]*job{}
	w.limits = map[string]int{}
	w.slots = make(chan struct{}, w.Capacity)
	w.changed = make(chan struct{}, 1)
	w.abort = make(chan struct{})

	// track runs on its own context so that jobs outlive the receive side.
	trackCtx, stopTracking := context.WithCancel(context.WithoutCancel(ctx))
	defer stopTracking()
	var trackers sync.WaitGroup
	trackers.Add(1)
	go func() { defer trackers.Done(); w.track(trackCtx) }()

	var receivers sync.WaitGroup
	running := map[string]bool{}
	discover := time.NewTicker(w.Discover)
	defer discover.Stop()
	for {
		names, err := w.Broker.List(ctx, LaneQueuePrefix)
		if err != nil && ctx.Err() == nil {
			w.Logger.Warn("listing lane queues", "err", err)
		}
		for _, name := range names {
			if running[name] || name == RunDLQ {
				continue
			}
			q, err := w.Broker.Open(ctx, name)
			if err != nil {
				w.Logger.Warn("opening lane queue", "queue", name, "err", err)
				continue
			}
			running[name] = true
			receivers.Add(1)
			if name == CancelQueue {
				go func() { defer receivers.Done(); w.receiveCancels(ctx, q) }()
				continue
			}
			go func() {
				defer receivers.Done()
				w.receive(ctx, trackCtx, strings.TrimPrefix(name, LaneQueuePrefix), q)
			}()
		}
		select {
		case <-ctx.Done():
		case <-discover.C:
			continue
		}
		break
	}
	receivers.Wait()
	w.drain(ctx)
	stopTracking()
	trackers.Wait()
	return nil
}

// Abort makes a draining worker hand its jobs back at once (a second
// SIGTERM).
func (w *Worker) Abort() {
	w.abortOne.Do(func() { close(w.abort) })
}

// receive takes run orders of one lane while there is room: room in the
// worker and, when the lane's limit is known, a lane lease taken before
// receiving so the lane is never oversubscribed.
func (w *Worker) receive(ctx, trackCtx context.Context, laneName string, q queue.Queue) {
	log := w.Logger.With("lane", laneName)
	for ctx.Err() == nil {
		// Wait for room in the worker.
		select {
		case w.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		holder := fmt.Sprintf("%s/%s", w.ID, newToken())
		limit := w.laneLimit(laneName)
		if limit > 0 {
			ok, err := w.Lanes.Acquire(ctx, laneName, limit, holder, w.leaseTTL())
			if err != nil || !ok {
				<-w.slots
				if err != nil && ctx.Err() == nil {
					log.Warn("acquiring lane lease", "err", err)
				}
				w.waitForChange(ctx)
				continue
			}
		}
		msgs, err := q.Receive(ctx, queue.ReceiveOptions{Max: 1, Wait: w.ReceiveWait, Visibility: w.Visibility})
		if err != nil || len(msgs) == 0 {
			w.release(ctx, laneName, holder)
			<-w.slots
			if err != nil && ctx.Err() == nil {
				log.Warn("receiving run orders", "err", err)
				w.waitForChange(ctx)
			}
			continue
		}
		if schemas.SchemaName(msgs[0].Body) == schemas.CancelOrderName {
			// A cancel order that reached a lane queue is acted on
			// like one from the cancel queue.
			w.release(ctx, laneName, holder)
			<-w.slots
			w.cancel(trackCtx, q, msgs[0])
			continue
		}
		if !w.take(trackCtx, q, msgs[0], laneName, holder, limit > 0) {
			<-w.slots
		}
	}
}

// take starts seeing a received run order through. It reports false when
// the order was not taken (malformed, or its lane is full).
func (w *Worker) take(ctx context.Context, q queue.Queue, msg queue.Message, laneName, holder string, leased bool) bool {
	order, err := schemas.DecodeRunOrder(msg.Body)
	if err != nil {
		w.release(ctx, laneName, holder)
		w.poison(ctx, q, msg, err)
		return false
	}
	w.mu.Lock()
	w.limits[order.Lane] = order.LaneLimit
	w.mu.Unlock()
	if !leased {
		ok, err := w.Lanes.Acquire(ctx, order.Lane, order.LaneLimit, holder, w.leaseTTL())
		if err != nil || !ok {
			// The lane is full: give the order back for later.
			_ = q.ChangeVisibility(ctx, msg.Receipt, 5*time.Second)
			return false
		}
	}
	k := key(order.JobID, order.Attempt)
	w.mu.Lock()
	if _, dup := w.jobs[k]; dup {
		// The same job delivered twice to this worker: the copy already
		// tracked is enough; this one is deleted once that one ends.
		w.mu.Unlock()
		w.release(ctx, order.Lane, holder)
		_ = q.Delete(context.WithoutCancel(ctx), msg.Receipt)
		return false
	}
	j := &job{order: order, msg: msg, q: q, holder: holder, done: make(chan struct{})}
	w.jobs[k] = j
	w.mu.Unlock()
	go w.start(ctx, j)
	return true
}

func (w *Worker) laneLimit(name string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.limits[name]
}

func (w *Worker) leaseTTL() time.Duration { return 2 * w.Visibility }

func (w *Worker) release(ctx context.Context, laneName, holder string) {
	// Release even when shutting down: the lease is ours to give back.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := w.Lanes.Release(ctx, laneName, holder); err != nil {
		w.Logger.Warn("releasing lane lease", "lane", laneName, "err", err)
	}
	w.signal()
}

func (w *Worker) signal() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// waitForChange waits until a job ends or a poll interval passes.
func (w *Worker) waitForChange(ctx context.Context) {
	t := time.NewTimer(w.Poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-w.changed:
	case <-t.C:
	}
}

// poison dead-letters a run order or cancel order that cannot be decoded.
func (w *Worker) poison(ctx context.Context, q queue.Queue, msg queue.Message, cause error) {
	code := "malformed_run_order"
	if schemas.SchemaName(msg.Body) == schemas.CancelOrderName {
		code = "malformed_cancel_order"
	}
	if errors.Is(cause, schemas.ErrUnsupportedSchema) {
		code = "unsupported_schema"
	}
	raw := msg.Body
	if len(raw) > maxRawBytes {
		raw = raw[:maxRawBytes]
	}
	dl := schemas.DeadLetter{Raw: string(raw), Failure: schemas.Failure{
		Reason: cause.Error(), ReasonCode: code, Attempts: msg.ReceiveCount, Time: time.Now().UTC(),
	}}
	if err := w.deadLetter(ctx, dl); err != nil {
		w.Logger.Error("dead-lettering undecodable run order; it will be retried", "message_id", msg.ID, "err", err)
		return
	}
	_ = q.Delete(context.WithoutCancel(ctx), msg.Receipt)
	w.Logger.Warn("undecodable run order dead-lettered", "message_id", msg.ID, "err", cause)
}

func (w *Worker) deadLetter(ctx context.Context, dl schemas.DeadLetter) error {
	body, err := dl.Encode()
	if err != nil {
		return err
	}
	attrs := map[string]string{"schema": schemas.DeadLetterV1, "reason_code": dl.Failure.ReasonCode}
	if dl.JobID != "" {
		attrs["job_id"] = dl.JobID
	}
	_, err = w.DeadLetters.Send(ctx, queue.Outgoing{Body: body, Attributes: attrs})
	return err
}

// maxRawBytes bounds how much of an undecodable run order a dead letter
// keeps, so that the dead letter itself fits a message even after JSON
// escaping.
const maxRawBytes = 32 * 1024
