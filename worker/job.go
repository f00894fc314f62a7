package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/schemas"
)

// Stop reasons the worker gives the runner; they survive a worker restart
// in the task's record, so an adopting worker knows why a task stopped.
const (
	stopTimeout = "timeout"
	stopCancel  = schemas.StopReasonCancelled
)

// start starts (or adopts) the job's task.
func (w *Worker) start(ctx context.Context, j *job) {
	o := j.order
	log := w.Logger.With("job_id", o.JobID, "attempt", o.Attempt)
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

	spec := runner.Spec{
		JobID: o.JobID, Attempt: o.Attempt,
		Container: o.Container, Script: o.Script, Argv: o.Argv,
		ScriptsDir: o.ScriptsDir, Image: o.Image, TaskDefinition: o.TaskDefinition,
		Env: o.Environment, Secrets: o.Secrets,
		CPU: o.TaskCPU, Memory: o.TaskMemory, LaunchType: o.LaunchType,
		Tags: map[string]string{"deployer:job-id": o.JobID, "deployer:lane": o.Lane, "deployer:caller": o.Caller.Principal},
	}
	b := backoff.WithContext(backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(time.Second),
		backoff.WithMaxInterval(30*time.Second),
		backoff.WithMaxElapsedTime(w.StartTimeout),
	), ctx)
	var task runner.Task
	err := backoff.Retry(func() error {
		t, err := w.Runner.Start(ctx, spec)
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
		if ctx.Err() != nil {
			return // shutting down; the order reappears for another worker
		}
		w.finish(ctx, j, schemas.OutcomeCouldNotStart, nil, "could not start: "+err.Error(), "could_not_start", -1, 0)
		return
	}
	w.mu.Lock()
	j.task = task
	j.started = true
	w.mu.Unlock()
	ev := w.event(o, schemas.EventStarted)
	ev.TaskID = task.ID
	w.publish(ctx, o, ev)
	log.Info("task started", "task_id", task.ID)
}

// track inspects tracked tasks, ends finished jobs, stops jobs past their
// timeout, and keeps run orders invisible and lane leases alive.
func (w *Worker) track(ctx context.Context) {
	poll := time.NewTicker(w.Poll)
	defer poll.Stop()
	beat := time.NewTicker(w.Visibility / 3)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			w.heartbeat(ctx)
		case <-poll.C:
			w.inspect(ctx)
		}
	}
}

func (w *Worker) heartbeat(ctx context.Context) {
	for _, j := range w.snapshot(false) {
		if err := j.q.ChangeVisibility(ctx, j.msg.Receipt, w.Visibility); err != nil {
			w.Logger.Warn("extending run order visibility", "job_id", j.order.JobID, "err", err)
		}
		if err := w.Lanes.Renew(ctx, j.order.Lane, j.holder, w.leaseTTL()); err != nil {
			w.Logger.Warn("renewing lane lease", "job_id", j.order.JobID, "err", err)
		}
	}
}

func (w *Worker) inspect(ctx context.Context) {
	jobs := w.snapshot(true)
	if len(jobs) == 0 {
		return
	}
	ids := make([]string, 0, len(jobs))
	byID := map[string]*job{}
	for _, j := range jobs {
		ids = append(ids, j.task.ID)
		byID[j.task.ID] = j
	}
	tasks, err := w.Runner.Inspect(ctx, ids...)
	if err != nil {
		w.Logger.Warn("inspecting tasks", "count", len(ids), "err", err)
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
			if err := w.Runner.Stop(ctx, t.ID, reason); err != nil {
				j.stopping = ""
				w.Logger.Warn("stopping timed-out task", "task_id", t.ID, "err", err)
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
		w.finish(ctx, j, schemas.OutcomeCouldNotStart, nil, "could not start: "+reason, "could_not_start", t.LogEvents, dur)
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
	log := w.Logger.With("job_id", o.JobID, "attempt", o.Attempt, "outcome", outcome)
	if w.retry(ctx, j, outcome, exit, reason) {
		return
	}
	if outcome != schemas.OutcomeSucceeded && outcome != schemas.OutcomeCancelled && !w.deadLettered(ctx, o) {
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
	if logEvents >= 0 {
		n := logEvents
		ev.LogEvents = &n
	}
	w.publish(ctx, o, ev)
	log.Info("job finished", "exit_code", exit, "reason", reason)
	w.forget(ctx, j, true)
}

// deadLettered reports whether the journal records that this attempt was
// dead-lettered already: a run order redelivered after a worker died
// between sending the dead letter and deleting the order must not be
// dead-lettered twice.
func (w *Worker) deadLettered(ctx context.Context, o schemas.RunOrder) bool {
	if w.Journal == nil {
		return false
	}
	history, err := w.Journal.Read(ctx, o.JobID)
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
		_, err = j.q.Send(ctx, queue.Outgoing{Body: body, Attributes: map[string]string{"job_id": o.JobID, "schema": schemas.RunOrderV1}})
	}
	if err != nil {
		w.Logger.Error("re-enqueueing job for retry; the run order will be retried", "job_id", o.JobID, "err", err)
		return true // keep the order; it reappears and this runs again
	}
	ev := w.event(next, schemas.EventQueued)
	ev.Reason = fmt.Sprintf("retrying as attempt %d of %d: %s", next.Attempt, p.MaxAttempts, reason)
	w.publish(ctx, next, ev)
	w.forget(ctx, j, true)
	return true
}

// forget stops tracking the job; with ack its run order is deleted,
// otherwise it is handed back for another worker.
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
	w.mu.Unlock()

	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var err error
	if ack {
		err = j.q.Delete(actx, j.msg.Receipt)
	} else {
		err = j.q.ChangeVisibility(actx, j.msg.Receipt, 0)
	}
	if err != nil && !errors.Is(err, queue.ErrInvalidReceipt) {
		w.Logger.Warn("settling run order", "job_id", j.order.JobID, "ack", ack, "err", err)
	}
	w.release(ctx, j.order.Lane, j.holder)
	<-w.slots
}

// drain waits for tracked jobs to end for up to DrainTimeout (or until
// Abort), then hands the rest back.
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
	for _, j := range w.snapshot(false) {
		w.forget(ctx, j, false)
		w.Logger.Info("handed job back", "job_id", j.order.JobID, "attempt", j.order.Attempt)
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
	}
}

// publish tells the job's stream and journal. Failures are logged, not
// fatal: the journal and the task's own log remain the record, and a
// follower fills what it missed from them.
func (w *Worker) publish(ctx context.Context, o schemas.RunOrder, ev schemas.JobEvent) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := w.Streams.Publish(pctx, o.Stream, ev); err != nil && !errors.Is(err, stream.ErrNotFound) {
		w.Logger.Warn("publishing job event", "job_id", o.JobID, "type", ev.Type, "err", err)
	}
	if w.Journal != nil {
		if err := w.Journal.Append(pctx, o.JobID, ev); err != nil {
			w.Logger.Warn("journaling job event", "job_id", o.JobID, "type", ev.Type, "err", err)
		}
	}
}

func newToken() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
