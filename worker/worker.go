package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/internal/lane"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/internal/writes"
	"github.com/deployerhq/deployer/schemas"
)

// Defaults of Options, each defined here only: the commands and backends
// that serve a worker take theirs from these.
const (
	DefaultCapacity     = 32
	DefaultVisibility   = 30 * time.Second
	DefaultPoll         = 2 * time.Second
	DefaultReceiveWait  = queue.MaxWait
	DefaultDiscover     = 30 * time.Second
	DefaultStartTimeout = 5 * time.Minute
	DefaultCallTimeout  = 30 * time.Second
)

// MinVisibility is the shortest Options.Visibility: heartbeats run every
// Visibility/3, and shorter ones would be little but calls. (SQS rounds a
// visibility up to whole seconds.)
const MinVisibility = 100 * time.Millisecond

// Options tune a worker. Zero values take the defaults.
type Options struct {
	// ID names the worker in lane reservations and logs. Defaults to
	// host:pid.
	ID string
	// Capacity is how many jobs the worker tracks at once. Defaults to
	// DefaultCapacity (32).
	Capacity int
	// Visibility is how long a tracked run order stays hidden between
	// heartbeats; heartbeats run every Visibility/3, apart from task
	// inspection, and a job's lane lease lasts 2×Visibility between them.
	// It is also how long a job handed back keeps its lane lease for an
	// adopter. At least MinVisibility (100ms), at most queue.MaxVisibility.
	// Defaults to DefaultVisibility (30s).
	Visibility time.Duration
	// Poll is how often tracked tasks are inspected. Defaults to
	// DefaultPoll (2s).
	Poll time.Duration
	// Wake, when set, returns a channel that receives whenever the
	// runner's tasks may have changed, until ctx ends: tracked tasks are
	// then inspected at once, not only every Poll. The embedded backend
	// wakes it on every commit to its state database (a supervisor that
	// recorded its task's end), so a job ends as soon as its task does.
	Wake func(ctx context.Context) <-chan struct{}
	// ReceiveWait is the long-poll wait of each receive, at most
	// queue.MaxWait. Defaults to DefaultReceiveWait (20s).
	ReceiveWait time.Duration
	// Discover is how often lane queues are listed. Defaults to
	// DefaultDiscover (30s).
	Discover time.Duration
	// DrainTimeout is how long a stopping worker keeps tracking its tasks
	// before handing them back. Defaults to 0: hand back at once.
	DrainTimeout time.Duration
	// StartTimeout bounds the retries of a task start that fails for a
	// transient reason (capacity, throttling). Defaults to
	// DefaultStartTimeout (5m).
	StartTimeout time.Duration
	// CallTimeout bounds each call to the runner, the queues, the lanes
	// and the journal (a receive may take ReceiveWait longer; a heartbeat
	// call at most Visibility/3), so that no slow call holds up the rest.
	// Defaults to DefaultCallTimeout (30s).
	CallTimeout time.Duration
	// Logger defaults to discarding. The lines about a job carry its
	// job_id, attempt and, when its run order carries a trace context,
	// trace_id.
	Logger *slog.Logger
	// Tracer starts each job's queue wait, task start and run spans,
	// parented by the trace context its run order carries (see package
	// tracing); the task's TRACEPARENT names the run span. Defaults to a
	// no-op tracer, which passes the order's context on to the task
	// unchanged.
	Tracer trace.Tracer
	// Observer is told of every job that ends, for metrics. Optional.
	Observer Observer
}

// Observer is told of each job the worker ends, once its terminal event
// is recorded: its lane, its outcome and how long its task ran (0 when
// no task ran). An attempt that is retried is not an end; a canary is
// not a job anyone ran, and is not told.
type Observer interface {
	JobFinished(lane string, outcome schemas.Outcome, ran time.Duration)
}

// Validate reports every option out of range at once. Zero values are
// valid: they take the defaults.
func (o Options) Validate() error {
	var errs []error
	bad := func(name string, v any, problem string) {
		errs = append(errs, fmt.Errorf("%s %v %s", name, v, problem))
	}
	negative := func(name string, d time.Duration) {
		if d < 0 {
			bad(name, d, "is negative")
		}
	}
	if o.Capacity < 0 {
		bad("Capacity", o.Capacity, "is negative")
	}
	if o.Visibility != 0 && (o.Visibility < MinVisibility || o.Visibility > queue.MaxVisibility) {
		bad("Visibility", o.Visibility, fmt.Sprintf("is out of range [%s, %s]", MinVisibility, queue.MaxVisibility))
	}
	negative("Poll", o.Poll)
	if o.ReceiveWait > queue.MaxWait {
		bad("ReceiveWait", o.ReceiveWait, fmt.Sprintf("is over %s", queue.MaxWait))
	}
	negative("ReceiveWait", o.ReceiveWait)
	negative("Discover", o.Discover)
	negative("DrainTimeout", o.DrainTimeout)
	negative("StartTimeout", o.StartTimeout)
	negative("CallTimeout", o.CallTimeout)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("worker options: %w", err)
	}
	return nil
}

// withDefaults returns o with its zero values set to the defaults.
func (o Options) withDefaults() Options {
	if o.ID == "" {
		host, _ := os.Hostname()
		o.ID = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	set := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	if o.Capacity == 0 {
		o.Capacity = DefaultCapacity
	}
	set(&o.Visibility, DefaultVisibility)
	set(&o.Poll, DefaultPoll)
	set(&o.ReceiveWait, DefaultReceiveWait)
	set(&o.Discover, DefaultDiscover)
	set(&o.StartTimeout, DefaultStartTimeout)
	set(&o.CallTimeout, DefaultCallTimeout)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Tracer == nil {
		o.Tracer = noop.Tracer{}
	}
	return o
}

// Ports are the adapters a worker runs on. Journal is optional; the
// others are required.
type Ports struct {
	// Broker finds the lane run queues (names starting topology.LaneQueuePrefix).
	Broker queue.Broker
	// DeadLetters is the run dead-letter queue.
	DeadLetters queue.Queue
	Runner      runner.Runner
	Streams     stream.Streams
	Journal     journal.Journal
	Lanes       lane.Limiter
	// Together makes the writes of one step one, where the backend can
	// (see package writes): an event journaled and published; a job's
	// end, its terminal event with its run order deleted and its lane
	// lease released. Optional.
	Together writes.Together
}

// Validate reports every missing port at once.
func (p Ports) Validate() error {
	var errs []error
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"Broker", p.Broker != nil}, {"DeadLetters", p.DeadLetters != nil}, {"Runner", p.Runner != nil},
		{"Streams", p.Streams != nil}, {"Lanes", p.Lanes != nil},
	} {
		if !c.ok {
			errs = append(errs, fmt.Errorf("no %s", c.name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("worker ports: %w", err)
	}
	return nil
}

// Worker runs jobs. Build it with New and call Run.
type Worker struct {
	Ports
	Options

	setupOnce sync.Once
	mu        sync.Mutex
	jobs      map[string]*job // by job id + attempt
	limits    map[string]int  // lane → limit, learned from orders
	// batchLanes maps the lanes of bounded batches to their limits,
	// learned from orders; parked holds the orders received while their
	// batch was full (see batch.go), batchChecked when each fail_fast
	// batch's journal was last read.
	batchLanes   map[string]int
	parked       map[string]*parkedOrder
	batchChecked map[string]time.Time
	slots        chan struct{} // capacity semaphore
	changed      chan struct{} // a job ended or a lease was released
	abort        chan struct{}
	abortOne     sync.Once
	starts       sync.WaitGroup // start goroutines
}

// New returns a worker on p, or every problem with p and o at once.
func New(p Ports, o Options) (*Worker, error) {
	w := &Worker{Ports: p, Options: o}
	if err := w.check(); err != nil {
		return nil, err
	}
	w.setup()
	return w, nil
}

func (w *Worker) check() error { return errors.Join(w.Ports.Validate(), w.Options.Validate()) }

// setup applies the defaults and makes the worker's state, once: by New,
// Run or Abort, whichever comes first.
func (w *Worker) setup() {
	w.setupOnce.Do(func() {
		w.Options = w.withDefaults()
		w.jobs = map[string]*job{}
		w.limits = map[string]int{}
		w.batchLanes = map[string]int{}
		w.parked = map[string]*parkedOrder{}
		w.batchChecked = map[string]time.Time{}
		w.slots = make(chan struct{}, w.Capacity)
		w.changed = make(chan struct{}, 1)
		w.abort = make(chan struct{})
	})
}

// job is a run order being seen through.
type job struct {
	order schemas.RunOrder
	// lease is the job's lane lease holder (see leaseHolder).
	lease string
	// q is the queue the order came from; retries go there.
	q queue.Queue
	// deliveries are the receipts this worker holds for the run order,
	// oldest first; more than one when the order was delivered again
	// while tracked. Heartbeats drop the ones the queue calls stale.
	deliveries []delivery
	task       runner.Task
	started    bool
	// mayRun is set before the runner is first asked to start the task:
	// from then on a task may run even if no start returned.
	mayRun bool
	// stopping records why the worker asked the task to stop.
	stopping string
	// stopStart cancels the job's start, if it is still under way.
	stopStart context.CancelFunc
	// parent is the trace context the run order carried; span is the
	// job's run span, a child of it; log is the worker's logger with the
	// job's job_id, attempt and trace_id.
	parent trace.SpanContext
	span   trace.Span
	log    *slog.Logger
}

// delivery is one receipt of a run order.
type delivery struct {
	q       queue.Queue
	receipt string
}

func key(jobID string, attempt int) string { return fmt.Sprintf("%s/%d", jobID, attempt) }

// leaseHolder is the holder of a job attempt's lane lease: the job's, not
// the worker's, so that whoever adopts the job (after a duplicate
// delivery, a hand-back or a crash) takes over the one lease the lane
// counts for its task instead of adding a second, and a lease whose
// worker went quiet can be judged by the job's task (see keepOrphans).
func leaseHolder(jobID string, attempt int) string {
	return fmt.Sprintf("%s%s/%d", jobLeasePrefix, jobID, attempt)
}

const jobLeasePrefix = "job/"

// parseLeaseHolder is leaseHolder's inverse; ok is false for holders
// that are not a job's (reservations, other users of the lanes).
func parseLeaseHolder(h string) (jobID string, attempt int, ok bool) {
	rest, ok := strings.CutPrefix(h, jobLeasePrefix)
	if !ok {
		return "", 0, false
	}
	jobID, n, ok := strings.Cut(rest, "/")
	if !ok {
		return "", 0, false
	}
	attempt, err := strconv.Atoi(n)
	return jobID, attempt, err == nil && attempt > 0 && schemas.ValidJobID(jobID)
}

// Run receives and runs jobs until ctx ends, then drains (see Options). It
// returns when every job it took is finished or handed back, and an error
// only for a worker that New would have refused.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.check(); err != nil {
		return err
	}
	w.setup()

	// Tracking runs on its own context so that jobs outlive the receive
	// side. Heartbeats and inspection run apart, so that a slow
	// inspection never delays a heartbeat.
	trackCtx, stopTracking := context.WithCancel(context.WithoutCancel(ctx))
	defer stopTracking()
	var trackers sync.WaitGroup
	trackers.Go(func() { w.heartbeats(trackCtx) })
	trackers.Go(func() { w.inspections(trackCtx) })

	var receivers sync.WaitGroup
	running := map[string]bool{}
	discover := time.NewTicker(w.Discover)
	defer discover.Stop()
	for {
		lctx, cancel := w.call(ctx)
		names, err := w.Broker.List(lctx, topology.LaneQueuePrefix)
		cancel()
		if err != nil && ctx.Err() == nil {
			w.Logger.Warn("listing lane queues", "err", err)
		}
		for _, name := range names {
			if running[name] || name == topology.RunDLQ {
				continue
			}
			octx, cancel := w.call(ctx)
			q, err := w.Broker.Open(octx, name)
			cancel()
			if err != nil {
				w.Logger.Warn("opening lane queue", "queue", name, "err", err)
				continue
			}
			running[name] = true
			if name == topology.CancelQueue {
				receivers.Go(func() { w.receiveCancels(ctx, q) })
				continue
			}
			receivers.Go(func() { w.receive(ctx, trackCtx, strings.TrimPrefix(name, topology.LaneQueuePrefix), q) })
		}
		select {
		case <-ctx.Done():
		case <-discover.C:
			continue
		}
		break
	}
	receivers.Wait()
	w.handBackParked(trackCtx)
	w.drain(trackCtx)
	stopTracking()
	w.starts.Wait()
	trackers.Wait()
	return nil
}

// Abort makes a draining worker hand its jobs back at once (a second
// SIGTERM). It may be called before Run, and more than once.
func (w *Worker) Abort() {
	w.setup()
	w.abortOne.Do(func() { close(w.abort) })
}

// receive takes run orders of one lane while there is room: room in the
// worker and, once the lane's limit is known, a slot of the lane reserved
// before receiving, so the lane is never oversubscribed and an order that
// cannot run is not received for nothing.
func (w *Worker) receive(ctx, trackCtx context.Context, laneName string, q queue.Queue) {
	log := w.Logger.With("lane", laneName)
	for ctx.Err() == nil {
		// Wait for room in the worker.
		select {
		case w.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		if w.parkedCount(laneName) >= w.maxParked() {
			<-w.slots
			w.waitForChange(ctx)
			continue
		}
		var reservation string
		if limit := w.laneLimit(laneName); limit > 0 {
			reservation = fmt.Sprintf("%s/%s", w.ID, newToken())
			actx, cancel := w.call(ctx)
			ok, err := w.Lanes.Acquire(actx, laneName, limit, reservation, w.reservationTTL())
			cancel()
			if err != nil || !ok {
				<-w.slots
				if err != nil && ctx.Err() == nil {
					log.Warn("reserving a lane slot", "err", err)
				}
				w.waitForChange(ctx)
				continue
			}
		}
		// Orders parked while their batch was full go before new ones;
		// while some wait, receives are short so that they are looked
		// at again soon.
		took, spent := w.unpark(trackCtx, laneName, reservation)
		if took {
			continue
		}
		if spent {
			<-w.slots
			w.waitForChange(ctx)
			continue
		}
		wait := w.ReceiveWait
		if w.parkedCount(laneName) > 0 {
			wait = min(wait, w.Poll)
		}
		rctx, cancel := context.WithTimeout(ctx, wait+w.CallTimeout)
		msgs, err := q.Receive(rctx, queue.ReceiveOptions{Max: 1, Wait: wait, Visibility: w.Visibility})
		cancel()
		if err != nil || len(msgs) == 0 {
			w.release(ctx, laneName, reservation)
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
			w.release(ctx, laneName, reservation)
			<-w.slots
			w.cancel(trackCtx, q, msgs[0])
			continue
		}
		if !w.take(trackCtx, q, msgs[0], laneName, reservation) {
			<-w.slots
		}
	}
}

// take starts seeing a received run order through. It reports false when
// it took no new job: the order was malformed, its lane is full, or it is
// a job this worker tracks already.
func (w *Worker) take(ctx context.Context, q queue.Queue, msg queue.Message, laneName, reservation string) bool {
	order, err := schemas.DecodeRunOrder(msg.Body)
	if err != nil {
		w.release(ctx, laneName, reservation)
		w.poison(ctx, q, msg, err)
		return false
	}
	w.mu.Lock()
	w.limits[order.Lane] = order.LaneLimit
	w.mu.Unlock()
	if order.Canary {
		// A canary takes no lane slot: the one reserved goes back.
		w.release(ctx, laneName, reservation)
		w.takeCanary(ctx, q, msg, order)
		return false
	}
	holder := leaseHolder(order.JobID, order.Attempt)
	arr := arrivalOf(ctx, msg, order)
	log := w.orderLog(order, arr.parent)
	if !w.lease(ctx, order, laneName, reservation, holder, log) {
		// The lane is full: give the order back for later.
		cctx, cancel := w.call(ctx)
		defer cancel()
		if err := q.ChangeVisibility(cctx, msg.Receipt, 5*time.Second); err != nil && !errors.Is(err, queue.ErrInvalidReceipt) {
			log.Warn("deferring run order of a full lane", "err", err)
		}
		return false
	}
	k := key(order.JobID, order.Attempt)
	w.mu.Lock()
	j, dup := w.jobs[k]
	w.mu.Unlock()
	if !dup && (w.parkedAhead(order, laneName) || !w.batchLease(ctx, order, holder)) {
		// Its batch is full, or an earlier job of the batch waits for
		// room here (a slot freed since that job was refused is its):
		// park it, without the lane's slot.
		w.release(ctx, order.Lane, holder)
		w.park(ctx, q, msg, order, laneName)
		return false
	}
	w.mu.Lock()
	if !dup {
		j, dup = w.jobs[k]
	}
	if dup {
		// The same job delivered again while this worker tracks it. Its
		// lane lease is the job's, so the lane still counts it once (the
		// reservation merged into it), and nothing is deleted: the
		// delivery is kept beside the first. The queue made the newest
		// receipt the one that counts (on SQS and the embedded queue
		// alike, a receive invalidates the earlier receipt for deletes
		// and visibility changes), so heartbeats extend both and drop
		// the one the queue calls stale; the job's end deletes the order
		// with every receipt held. Deleting the order here instead would
		// lose the job if this worker died before the task ended.
		j.deliveries = append(j.deliveries, delivery{q: q, receipt: msg.Receipt})
		w.mu.Unlock()
		j.log.Info("run order delivered again while tracked; tracking it with the newest receipt", "receives", msg.ReceiveCount)
		return false
	}
	delete(w.parked, k) // delivered again while parked: this delivery counts
	sctx, stopStart := context.WithCancel(ctx)
	j = w.newJob(ctx, order, q, msg.Receipt, holder, stopStart, arr)
	w.jobs[k] = j
	w.mu.Unlock()
	w.starts.Go(func() {
		defer stopStart()
		w.start(sctx, j)
	})
	return true
}

// lease gives the order's job its lane lease under holder and reports
// whether it has one. The slot reserved before receiving becomes the
// job's (merging into the job's own lease when it has one already: a run
// order delivered again, or adopted after its worker left); without a
// reservation (the lane's limit was not known yet) one is acquired, and
// false means the lane is full.
func (w *Worker) lease(ctx context.Context, o schemas.RunOrder, laneName, reservation, holder string, log *slog.Logger) bool {
	cctx, cancel := w.call(ctx)
	defer cancel()
	if reservation != "" {
		if o.Lane == laneName {
			err := w.Lanes.Transfer(cctx, laneName, reservation, holder, w.leaseTTL())
			if err == nil {
				return true
			}
			if !errors.Is(err, lane.ErrNotHeld) {
				log.Warn("handing a lane reservation to its job", "err", err)
			}
		}
		w.release(ctx, laneName, reservation)
	}
	ok, err := w.Lanes.Acquire(cctx, o.Lane, o.LaneLimit, holder, w.leaseTTL())
	if err != nil {
		log.Warn("acquiring lane lease", "lane", o.Lane, "err", err)
		return false
	}
	return ok
}

func (w *Worker) laneLimit(name string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.limits[name]
}

// knownLanes lists the lanes whose limit the worker has learned, the
// lanes of bounded batches included.
func (w *Worker) knownLanes() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.limits)+len(w.batchLanes))
	for name := range w.limits {
		out = append(out, name)
	}
	for name := range w.batchLanes {
		out = append(out, name)
	}
	return out
}

// forgetBatchLane forgets a batch's lane that has no live lease and no
// job here, so that finished batches do not pile up.
func (w *Worker) forgetBatchLane(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.batchLanes[name]; !ok {
		return
	}
	for _, j := range w.jobs {
		if bl, _, ok := batchLane(j.order); ok && bl == name {
			return
		}
	}
	for _, p := range w.parked {
		if bl, _, ok := batchLane(p.order); ok && bl == name {
			return
		}
	}
	delete(w.batchLanes, name)
}

// leaseTTL is how long a job's lane lease lasts between heartbeats.
func (w *Worker) leaseTTL() time.Duration { return 2 * w.Visibility }

// reservationTTL is how long a slot reserved before a receive lasts: the
// receive's long poll and a lease's ttl after it.
func (w *Worker) reservationTTL() time.Duration { return w.ReceiveWait + w.leaseTTL() }

// call bounds one call to a port by CallTimeout.
func (w *Worker) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, w.CallTimeout)
}

// release gives a lane lease back; an empty holder is none.
func (w *Worker) release(ctx context.Context, laneName, holder string) {
	if holder == "" {
		return
	}
	// Release even when shutting down: the lease is ours to give back.
	ctx, cancel := w.call(context.WithoutCancel(ctx))
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
	dctx, cancel := w.call(context.WithoutCancel(ctx))
	defer cancel()
	if err := q.Delete(dctx, msg.Receipt); err != nil && !errors.Is(err, queue.ErrInvalidReceipt) {
		w.Logger.Warn("deleting dead-lettered run order", "message_id", msg.ID, "err", err)
	}
	w.Logger.Warn("undecodable run order dead-lettered", "message_id", msg.ID, "err", cause)
}

func (w *Worker) deadLetter(ctx context.Context, dl schemas.DeadLetter) error {
	body, err := dl.Encode()
	if err != nil {
		return fmt.Errorf("encoding dead letter: %w", err)
	}
	attrs := map[string]string{"schema": schemas.DeadLetterV1, "reason_code": dl.Failure.ReasonCode}
	if dl.JobID != "" {
		attrs["job_id"] = dl.JobID
	}
	ctx, cancel := w.call(ctx)
	defer cancel()
	if _, err := w.DeadLetters.Send(ctx, queue.Outgoing{Body: body, Attributes: attrs}); err != nil {
		return fmt.Errorf("sending dead letter: %w", err)
	}
	return nil
}

// maxRawBytes bounds how much of an undecodable run order a dead letter
// keeps, so that the dead letter itself fits a message even after JSON
// escaping.
const maxRawBytes = 32 * 1024
