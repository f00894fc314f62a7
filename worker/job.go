package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/internal/lane"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/internal/tracing"
	"github.com/deployerhq/deployer/schemas"
)

// Stop reasons the worker gives the runner; they survive a worker restart
// in the task's record, so an adopting worker knows why a task stopped.
const (
	stopTimeout = "timeout"
	stopCancel  = schemas.StopReasonCancelled
)

// Reason codes of jobs that could not start.
const (
	// ReasonCouldNotStart: the runner could not start the task, or the
	// task stopped before its script ran.
	ReasonCouldNotStart = "could_not_start"
	// ReasonTaskDefinitionMissing: what defines the task is not there (an
	// ECS task definition that does not exist or is inactive, a local
	// scripts directory that is gone; runner.ErrMissingDefinition).
	ReasonTaskDefinitionMissing = "task_definition_missing"
)

// start starts (or adopts) the job's task.
func (w *Worker) start(ctx context.Context, j *job) {
	o := j.order
	log := j.log
	w.publish(ctx, o, w.event(o, schemas.EventStarting))
	// A job cancelled while it was queued never starts: one journal read
	// per start, after the starting event is journaled (a cancel order
	// that finds neither a task nor that event knows no start is under
	// way). A cancel journaled after this read finds the task through its
	// cancel order and stops it.
	if reason, ok := w.cancelRequested(ctx, o); ok {
		w.startCancelled(ctx, j, reason)
		return
	}
	if failed, ok := w.batchFailure(ctx, o, o.JobID); ok {
		w.startCancelled(ctx, j, failFastReason(o, failed))
		return
	}

	spec := runner.Spec{
		JobID: o.JobID, Attempt: o.Attempt,
		Container: o.Container, Script: o.Script, Argv: o.Argv, Canary: o.Canary,
		ScriptsDir: o.ScriptsDir, Image: o.Image, TaskDefinition: o.TaskDefinition,
		Env: j.taskEnv(ctx), Secrets: o.Secrets,
		CPU: o.TaskCPU, Memory: o.TaskMemory, LaunchType: o.LaunchType,
		Tags: map[string]string{"deployer:job-id": o.JobID, "deployer:lane": o.Lane, "deployer:caller": o.Caller.Principal},
	}
	b := backoff.WithContext(backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(time.Second),
		backoff.WithMaxInterval(30*time.Second),
		backoff.WithMaxElapsedTime(w.StartTimeout),
	), ctx)
	if ctx.Err() != nil {
		return // shutting down before asking for a task
	}
	w.mu.Lock()
	j.mayRun = true
	w.mu.Unlock()
	_, startSpan := w.Tracer.Start(j.spanContext(ctx), tracing.SpanTaskStart, jobAttrs(o))
	var task runner.Task
	err := backoff.Retry(func() error {
		cctx, cancel := w.call(ctx)
		defer cancel()
		t, err := w.Runner.Start(cctx, spec)
		if errors.Is(err, runner.ErrInvalidSpec) {
			return backoff.Permanent(err)
		}
		if err != nil {
			log.Warn("starting task; will retry", "err", err)
			return err
		}
		task = t
		return nil
	}, b)
	if err != nil {
		startSpan.SetStatus(codes.Error, err.Error())
	} else {
		startSpan.SetAttributes(attribute.String("deployer.task_id", task.ID))
	}
	startSpan.End()
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down; the order reappears for another worker
		}
		code := ReasonCouldNotStart
		if errors.Is(err, runner.ErrMissingDefinition) {
			code = ReasonTaskDefinitionMissing
		}
		w.finish(ctx, j, schemas.OutcomeCouldNotStart, nil, "could not start: "+err.Error(), code, -1, 0)
		return
	}
	// The started event goes out before the job is marked started: from
	// then on inspections track the task, and a task that ends at once
	// would have its terminal event published before this one, where a
	// follower, done at the terminal event, never reads it.
	ev := w.event(o, schemas.EventStarted)
	ev.TaskID = task.ID
	w.publish(ctx, o, ev)
	w.mu.Lock()
	j.task = task
	j.started = true
	w.mu.Unlock()
	log.Info("task started", "task_id", task.ID)
}

// heartbeats keeps tracked run orders invisible and their lane leases
// alive, every Visibility/3 until ctx ends, on a goroutine of its own:
// nothing else the worker waits for can delay them.
func (w *Worker) heartbeats(ctx context.Context) { every(ctx, w.beatEvery(), w.heartbeat) }

// inspections inspects tracked tasks every Poll until ctx ends.
// Jobs of fail_fast batches are checked for a failure elsewhere too.
func (w *Worker) inspections(ctx context.Context) {
	t := time.NewTicker(w.Poll)
	defer t.Stop()
	var wake <-chan struct{}
	if w.Wake != nil {
		wake = w.Wake(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
			// Only the tasks: batches are a journal read, kept to Poll.
			w.inspect(ctx)
		case <-t.C:
			w.inspect(ctx)
			w.checkBatches(ctx)
		}
	}
}

// every calls fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

func (w *Worker) beatEvery() time.Duration { return w.Visibility / 3 }

// heartbeat beats for every tracked job at once, each call bounded by the
// beat interval, and looks after the lane leases nobody tracks.
func (w *Worker) heartbeat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, min(w.CallTimeout, w.beatEvery()))
	defer cancel()
	var wg sync.WaitGroup
	for _, j := range w.snapshot(false) {
		wg.Go(func() { w.beat(ctx, j) })
	}
	wg.Go(func() { w.keepOrphans(ctx) })
	wg.Go(func() { w.beatParked(ctx) })
	wg.Wait()
}

// beat extends the visibility of every receipt held for the job's run
// order and renews its lane lease.
func (w *Worker) beat(ctx context.Context, j *job) {
	log := j.log
	held := 0
	for _, d := range w.deliveriesOf(j) {
		err := d.q.ChangeVisibility(ctx, d.receipt, w.Visibility)
		switch {
		case err == nil:
			held++
		case errors.Is(err, queue.ErrInvalidReceipt):
			w.dropDelivery(j, d)
		default:
			held++ // unknown: try again next beat
			log.Warn("extending run order visibility", "err", err)
		}
	}
	if held == 0 {
		// Every receipt is stale: the order was received by another
		// worker (whose delivery now counts, and which takes over the
		// job's lane lease) or deleted. Stop tracking it here, unless a
		// delivery to this worker came meanwhile.
		if w.letGo(j) {
			log.Warn("run order received elsewhere or gone; no longer tracking it here")
		}
		return
	}
	if j.lease == "" {
		return // a canary holds no lane lease
	}
	err := w.Lanes.Renew(ctx, j.order.Lane, j.lease, w.leaseTTL())
	if errors.Is(err, lane.ErrNotHeld) && w.tracking(j) {
		// The lease lapsed (heartbeats came too late): take it again.
		// (A job that ended meanwhile released it: leave it so.)
		var ok bool
		if ok, err = w.Lanes.Acquire(ctx, j.order.Lane, j.order.LaneLimit, j.lease, w.leaseTTL()); err == nil && !ok {
			log.Error("the job's lane lease lapsed and the lane filled meanwhile: the lane may run one job over its limit until this one ends")
			return
		}
	}
	if err != nil && !errors.Is(err, lane.ErrNotHeld) && ctx.Err() == nil {
		log.Warn("renewing lane lease", "err", err)
	}
	w.renewBatch(ctx, j)
}

// keepOrphans looks after the lane leases of jobs no worker tracks: their
// worker died, or stopped and handed them back, while their task ran. A
// lane must count such a task until it ends, or a new job would take its
// slot while it still runs; and its lease must not outlive it, or the lane
// would shrink. So a job's lease whose holder has gone quiet (less than
// Visibility left, where a tracking worker keeps 2×Visibility) is renewed
// for Visibility while the runner reports its task running, released once
// the task has stopped, and left to lapse when there is no task. An
// adopter of the job takes the lease over (see lease).
func (w *Worker) keepOrphans(ctx context.Context) {
	for _, ln := range w.knownLanes() {
		leases, err := w.Lanes.Leases(ctx, ln)
		if err != nil {
			if ctx.Err() == nil {
				w.Logger.Warn("listing lane leases", "lane", ln, "err", err)
			}
			continue
		}
		if len(leases) == 0 {
			w.forgetBatchLane(ln)
		}
		for _, ls := range leases {
			jobID, attempt, ok := parseLeaseHolder(ls.Holder)
			if !ok || time.Until(ls.Expires) >= w.Visibility || w.tracks(jobID, attempt) {
				continue
			}
			w.keepOrphan(ctx, ln, ls.Holder, jobID, attempt)
		}
	}
}

func (w *Worker) keepOrphan(ctx context.Context, ln, holder, jobID string, attempt int) {
	log := w.Logger.With("lane", ln, "job_id", jobID, "attempt", attempt)
	t, err := w.Runner.Find(ctx, jobID, attempt)
	switch {
	case errors.Is(err, runner.ErrNotFound):
		// No task: the job's worker left before starting one. The lease
		// lapses by itself; its adopter acquires one.
	case err == nil && t.Status == runner.StatusStopped:
		if err := w.Lanes.Release(ctx, ln, holder); err != nil {
			log.Warn("releasing the lane lease of a stopped task nobody tracks", "err", err)
			return
		}
		log.Info("released the lane lease of a stopped task nobody tracks", "task_id", t.ID)
		w.signal()
	default:
		// Running, or unknown: keep counting it.
		if err != nil && ctx.Err() == nil {
			log.Warn("finding the task of a lane lease nobody renews; keeping the lease", "err", err)
		}
		if err := w.Lanes.Renew(ctx, ln, holder, w.Visibility); err != nil && !errors.Is(err, lane.ErrNotHeld) && ctx.Err() == nil {
			log.Warn("renewing the lane lease of a task nobody tracks", "err", err)
		}
	}
}

// inspect ends finished jobs and stops jobs past their timeout.
func (w *Worker) inspect(ctx context.Context) {
	jobs := w.snapshot(true)
	if len(jobs) == 0 {
		return
	}
	ids := make([]string, 0, len(jobs))
	byID := map[string]*job{}
	w.mu.Lock()
	for _, j := range jobs {
		ids = append(ids, j.task.ID)
		byID[j.task.ID] = j
	}
	w.mu.Unlock()
	ictx, cancel := w.call(ctx)
	tasks, err := w.Runner.Inspect(ictx, ids...)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			w.Logger.Warn("inspecting tasks", "count", len(ids), "err", err)
		}
		return
	}
	now := time.Now()
	for _, t := range tasks {
		j := byID[t.ID]
		if j == nil {
			continue
		}
		w.mu.Lock()
		j.task = t
		w.mu.Unlock()
		if t.Status == runner.StatusStopped {
			w.ended(ctx, j, t)
			continue
		}
		if j.stopping == "" && !t.StartedAt.IsZero() && now.Sub(t.StartedAt) > j.order.Timeout.D() {
			j.stopping = stopTimeout
			reason := fmt.Sprintf("%s: the job ran longer than its %s timeout", stopTimeout, j.order.Timeout)
			sctx, cancel := w.call(ctx)
			err := w.Runner.Stop(sctx, t.ID, reason)
			cancel()
			if err != nil {
				j.stopping = ""
				j.log.Warn("stopping timed-out task", "task_id", t.ID, "err", err)
			}
		}
	}
}

// ended turns a stopped task into the job's outcome.
func (w *Worker) ended(ctx context.Context, j *job, t runner.Task) {
	var dur time.Duration
	if !t.StartedAt.IsZero() && !t.StoppedAt.IsZero() {
		dur = t.StoppedAt.Sub(t.StartedAt)
	}
	reason := t.StopReason
	switch {
	case t.StopCode == runner.StopFailedToStart:
		w.finish(ctx, j, schemas.OutcomeCouldNotStart, nil, "could not start: "+reason, ReasonCouldNotStart, t.LogEvents, dur)
	case t.StopCode == runner.StopLost:
		w.finish(ctx, j, schemas.OutcomeLost, t.ExitCode, "lost contact with the task: "+reason, "task_lost", t.LogEvents, dur)
	case j.stopping == stopTimeout || (t.StopCode == runner.StopRequested && strings.HasPrefix(reason, stopTimeout)):
		w.finish(ctx, j, schemas.OutcomeTimedOut, t.ExitCode,
			fmt.Sprintf("timed out after %s; the task was stopped", j.order.Timeout), "timed_out", t.LogEvents, dur)
	case j.stopping == stopCancel || (t.StopCode == runner.StopRequested && strings.HasPrefix(reason, stopCancel)):
		w.finish(ctx, j, schemas.OutcomeCancelled, t.ExitCode, cancelledReason(reason), "cancelled", t.LogEvents, dur)
	case t.ExitCode != nil && *t.ExitCode == 0:
		w.finish(ctx, j, schemas.OutcomeSucceeded, t.ExitCode, "", "", t.LogEvents, dur)
	case t.ExitCode != nil:
		w.finish(ctx, j, schemas.OutcomeFailed, t.ExitCode, fmt.Sprintf("the task exited with code %d", *t.ExitCode), "task_failed", t.LogEvents, dur)
	default:
		w.finish(ctx, j, schemas.OutcomeLost, nil, "the task stopped without an exit code: "+reason, "task_lost", t.LogEvents, dur)
	}
}

// finish records the job's outcome (retry, dead letter, terminal event),
// then deletes its run order and releases its lease.
func (w *Worker) finish(ctx context.Context, j *job, outcome schemas.Outcome, exit *int, reason, code string, logEvents int64, dur time.Duration) {
	o := j.order
	log := j.log.With("outcome", outcome)
	if w.retry(ctx, j, outcome, exit, reason) {
		return
	}
	// The run order carries which outcomes dead-letter (dead_letter_on,
	// resolved by the gatekeeper): the worker needs no configuration.
	deadLetters := o.DeadLetters(outcome)
	if deadLetters && !w.deadLettered(ctx, o) {
		req := o.Request
		order := o
		dl := schemas.DeadLetter{JobID: o.JobID, Request: &req, Order: &order, Failure: schemas.Failure{
			Outcome: outcome, Reason: reason, ReasonCode: code, ExitCode: exit,
			Attempts: o.Attempt, LastError: reason, Time: time.Now().UTC(),
		}}
		if err := w.deadLetter(ctx, dl); err != nil {
			// Keep the order: it reappears, the task is found stopped,
			// and the next try records the outcome.
			log.Error("dead-lettering failed job; it will be retried", "err", err)
			return
		}
		ev := w.event(o, schemas.EventDeadLettered)
		ev.Outcome, ev.Reason, ev.ReasonCode = outcome, reason, code
		w.publish(ctx, o, ev)
	}
	t := schemas.EventFinished
	switch outcome {
	case schemas.OutcomeCancelled:
		t = schemas.EventCancelled
	case schemas.OutcomeTimedOut, schemas.OutcomeCouldNotStart, schemas.OutcomeLost:
		t = schemas.EventFailed
	}
	ev := w.event(o, t)
	ev.TaskID = j.task.ID
	ev.Outcome, ev.ExitCode, ev.Reason, ev.ReasonCode = outcome, exit, reason, code
	ev.Duration = schemas.Duration(dur)
	ev.DeadLettered = deadLetters
	if logEvents >= 0 {
		n := logEvents
		ev.LogEvents = &n
	}
	// The terminal event and the order's settling (its deletion, its
	// lane lease given back) are one write where the backend can. Each
	// part's failure is logged, as it is on its own, and a commit that
	// fails leaves the order to reappear, to be found ended again.
	err := w.Together.Do(context.WithoutCancel(ctx), func(ctx context.Context) error {
		w.publish(ctx, o, ev)
		w.forget(ctx, j, true)
		return nil
	})
	if err != nil {
		log.Warn("recording the job's end; its run order will reappear", "err", err)
	}
	attrs := []any{"outcome", outcome, "reason", reason}
	if exit != nil {
		attrs = append(attrs, "exit_code", *exit) // the code, not the pointer's address
	}
	log.Info("job finished", attrs...)
	w.observe(o, outcome, dur)
	j.endSpan(outcome, reason, exit)
	if b := o.Request.Batch; b != nil && b.FailFast && schemas.BatchFailed(ev) {
		w.failFast(ctx, o.Request.BatchID, ev)
	}
}

// deadLettered reports whether the journal records that this attempt was
// dead-lettered already: a run order redelivered after a worker died
// between sending the dead letter and deleting the order must not be
// dead-lettered twice.
func (w *Worker) deadLettered(ctx context.Context, o schemas.RunOrder) bool {
	if w.Journal == nil {
		return false
	}
	rctx, cancel := w.call(ctx)
	defer cancel()
	history, err := w.Journal.Read(rctx, o.JobID)
	if err != nil {
		return false // unknown: dead-letter; a duplicate beats a loss
	}
	for _, ev := range history {
		if ev.Type == schemas.EventDeadLettered && ev.Attempt == o.Attempt {
			return true
		}
	}
	return false
}

// retry re-enqueues the job as its next attempt when its retry policy
// allows, and reports whether it did.
func (w *Worker) retry(ctx context.Context, j *job, outcome schemas.Outcome, exit *int, reason string) bool {
	o := j.order
	p := o.Retry
	if outcome != schemas.OutcomeFailed || exit == nil || o.Attempt >= p.MaxAttempts || !slices.Contains(p.OnExitCodes, *exit) {
		return false
	}
	next := o
	next.Attempt++
	next.Request.Attempt = next.Attempt
	body, err := next.Encode()
	if err == nil {
		// The next attempt continues the trace the order came with, beside
		// this one.
		attrs := map[string]string{"job_id": o.JobID, "schema": schemas.RunOrderV1}
		tracing.Inject(trace.ContextWithRemoteSpanContext(ctx, j.parent), attrs)
		sctx, cancel := w.call(ctx)
		_, err = j.q.Send(sctx, queue.Outgoing{Body: body, Attributes: attrs})
		cancel()
	}
	if err != nil {
		j.log.Error("re-enqueueing job for retry; the run order will be retried", "err", err)
		return true // keep the order; it reappears and this runs again
	}
	ev := w.event(next, schemas.EventQueued)
	ev.Reason = fmt.Sprintf("retrying as attempt %d of %d: %s", next.Attempt, p.MaxAttempts, reason)
	w.publish(ctx, next, ev)
	j.span.SetAttributes(attribute.Int("deployer.retry_attempt", next.Attempt))
	j.endSpan(outcome, reason, exit)
	w.forget(ctx, j, true)
	return true
}

// forget stops tracking the job; with ack its run order is deleted and
// its lane lease released, otherwise the order is handed back for another
// worker (see handBack).
func (w *Worker) forget(ctx context.Context, j *job, ack bool) {
	// A job is forgotten once: the tracker and a draining Run may both
	// try.
	w.mu.Lock()
	k := key(j.order.JobID, j.order.Attempt)
	if w.jobs[k] != j {
		w.mu.Unlock()
		return
	}
	delete(w.jobs, k)
	deliveries := slices.Clone(j.deliveries)
	mayRun, stopped := j.mayRun, j.task.Status == runner.StatusStopped
	w.mu.Unlock()
	j.stopStart()
	if !ack {
		j.endSpan("", "", nil) // handed back: another worker's run span follows
	}

	actx, cancel := w.call(context.WithoutCancel(ctx))
	defer cancel()
	for _, d := range deliveries {
		var err error
		if ack {
			err = d.q.Delete(actx, d.receipt)
		} else {
			err = d.q.ChangeVisibility(actx, d.receipt, 0)
		}
		if err != nil && !errors.Is(err, queue.ErrInvalidReceipt) {
			j.log.Warn("settling run order", "ack", ack, "err", err)
		}
	}
	switch {
	case j.lease == "":
		// A canary holds no lane lease and no slot of the worker's.
		w.signal()
		return
	case ack || !mayRun || stopped:
		w.releaseBatch(ctx, j.order, j.lease)
		w.release(ctx, j.order.Lane, j.lease)
	default:
		w.handBackLease(actx, j)
	}
	<-w.slots
}

// handBackLease leaves the lane lease of a job handed back while its task
// may run: released, the slot would go to a new job while the task still
// runs. It is cut to Visibility, so that the workers left see it as
// nobody's and keep it while the task runs (keepOrphans) until an adopter
// takes it over, and it lapses soon when no worker is left.
func (w *Worker) handBackLease(ctx context.Context, j *job) {
	if err := w.Lanes.Renew(ctx, j.order.Lane, j.lease, w.Visibility); err != nil && !errors.Is(err, lane.ErrNotHeld) {
		j.log.Warn("handing back lane lease", "err", err)
	}
	if bl, _, ok := batchLane(j.order); ok {
		if err := w.Lanes.Renew(ctx, bl, j.lease, w.Visibility); err != nil && !errors.Is(err, lane.ErrNotHeld) {
			j.log.Warn("handing back batch lease", "err", err)
		}
	}
	w.signal()
}

// letGo stops tracking a job whose run order another delivery took over,
// settling nothing and keeping the job's lane lease, which the other
// delivery's worker shares. It reports whether it did: not when the job
// is no longer tracked, nor when it holds a receipt again.
func (w *Worker) letGo(j *job) bool {
	w.mu.Lock()
	k := key(j.order.JobID, j.order.Attempt)
	if w.jobs[k] != j || len(j.deliveries) > 0 {
		w.mu.Unlock()
		return false
	}
	delete(w.jobs, k)
	w.mu.Unlock()
	j.stopStart()
	j.endSpan("", "", nil)
	if j.lease != "" {
		<-w.slots // a canary holds none
	}
	w.signal()
	return true
}

// deliveriesOf returns the job's receipts, oldest first.
func (w *Worker) deliveriesOf(j *job) []delivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(j.deliveries)
}

// dropDelivery forgets a receipt the queue called stale.
func (w *Worker) dropDelivery(j *job, d delivery) {
	w.mu.Lock()
	defer w.mu.Unlock()
	j.deliveries = slices.DeleteFunc(j.deliveries, func(x delivery) bool { return x == d })
}

// tracking reports whether the worker still tracks j.
func (w *Worker) tracking(j *job) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.jobs[key(j.order.JobID, j.order.Attempt)] == j
}

// tracks reports whether the worker tracks the job attempt.
func (w *Worker) tracks(jobID string, attempt int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.jobs[key(jobID, attempt)]
	return ok
}

// Jobs reports how many jobs the worker tracks now: taken and not yet
// finished or handed back, started or not. A server that stops when idle
// asks it before stopping, so that it never leaves a job it took.
func (w *Worker) Jobs() int {
	w.setup()
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.jobs)
}

// drain waits for tracked jobs to end for up to DrainTimeout (or until
// Abort), then hands the rest back. Starts still under way are stopped
// and waited for first, so that each job handed back is known to have a
// task that may run, or none.
func (w *Worker) drain(ctx context.Context) {
	deadline := time.NewTimer(w.DrainTimeout)
	defer deadline.Stop()
	for len(w.snapshot(false)) > 0 {
		select {
		case <-w.changed:
			continue
		case <-deadline.C:
		case <-w.abort:
		}
		break
	}
	left := w.snapshot(false)
	for _, j := range left {
		j.stopStart()
	}
	w.starts.Wait()
	for _, j := range left {
		w.forget(ctx, j, false)
		j.log.Info("handed job back")
	}
}

// snapshot lists tracked jobs; with started, only those whose task runs.
func (w *Worker) snapshot(started bool) []*job {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]*job, 0, len(w.jobs))
	for _, j := range w.jobs {
		if !started || j.started {
			out = append(out, j)
		}
	}
	return out
}

func (w *Worker) event(o schemas.RunOrder, t schemas.EventType) schemas.JobEvent {
	return schemas.JobEvent{
		Schema:  schemas.JobEventV1,
		JobID:   o.JobID,
		ID:      fmt.Sprintf("worker:%d:%s", o.Attempt, t),
		Time:    time.Now().UTC(),
		Type:    t,
		Source:  "worker",
		Attempt: o.Attempt,
		BatchID: o.Request.BatchID,
	}
}

// publish tells the job's stream and journal. Failures are logged, not
// fatal: the journal and the task's own log remain the record, and a
// follower fills what it missed from them.
func (w *Worker) publish(ctx context.Context, o schemas.RunOrder, ev schemas.JobEvent) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	// Each write's failure is its own: the other is made.
	err := w.Together.Do(pctx, func(pctx context.Context) error {
		if err := w.Streams.Publish(pctx, o.Stream, ev); err != nil && !errors.Is(err, stream.ErrNotFound) {
			w.logFor(ctx, o).Warn("publishing job event", "type", ev.Type, "err", err)
		}
		if w.Journal != nil {
			if err := journal.Record(pctx, w.Journal, o.JobID, o.Request.BatchID, ev); err != nil {
				w.logFor(ctx, o).Warn("journaling job event", "type", ev.Type, "err", err)
			}
		}
		return nil
	})
	if err != nil {
		w.logFor(ctx, o).Warn("publishing and journaling job event", "type", ev.Type, "err", err)
	}
}

func newToken() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
