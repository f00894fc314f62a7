package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/schemas"
)

// receiveCancels handles the cancel orders of topology.CancelQueue, where
// the gatekeeper sends them, until ctx ends. Workers receive from it
// whatever room they have, so a cancel reaches a job of a full lane; it
// takes no slot and no lane lease: a cancel order runs no task. The
// gatekeeper also sends a copy of each canary's order there (see
// takeCanary), so that a canary never waits for a slot of its lane.
func (w *Worker) receiveCancels(ctx context.Context, q queue.Queue) {
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, w.ReceiveWait+w.CallTimeout)
		msgs, err := q.Receive(rctx, queue.ReceiveOptions{Max: queue.MaxBatch, Wait: w.ReceiveWait, Visibility: w.Visibility})
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				w.Logger.Warn("receiving cancel orders", "err", err)
				pause(ctx, w.Poll)
			}
			continue
		}
		for _, m := range msgs {
			if schemas.SchemaName(m.Body) == schemas.RunOrderName {
				w.canaryOfCancelQueue(ctx, q, m)
				continue
			}
			w.cancel(ctx, q, m)
		}
	}
}

// cancel acts on one cancel order: it stops the job's task, wherever it
// runs, with a stop reason that starts with schemas.StopReasonCancelled,
// so the worker tracking the task (this one or another, now or after a
// restart) ends the job cancelled. When the job has no task yet the order
// is kept and received again later with a growing delay, until the task
// is found and stopped, the job has ended, or the job is known not to be
// starting (see applyCancel); the journaled cancel_requested event keeps
// any worker from starting it. The order is deleted only then; after
// CancelMaxReceives receives without a task it goes to the run
// dead-letter queue with its reason.
func (w *Worker) cancel(ctx context.Context, q queue.Queue, msg queue.Message) {
	co, err := schemas.DecodeCancelOrder(msg.Body)
	if err != nil {
		w.poison(ctx, q, msg, err)
		return
	}
	log := w.jobLog(co.JobID).With("cancel_request", co.RequestID, "caller", co.Caller.Principal)
	done, err := w.applyCancel(ctx, co)
	sctx, cancel := w.call(context.WithoutCancel(ctx))
	defer cancel()
	if done {
		if err := q.Delete(sctx, msg.Receipt); err != nil && !errors.Is(err, queue.ErrInvalidReceipt) {
			log.Warn("deleting cancel order", "err", err)
		}
		return
	}
	if err != nil && ctx.Err() == nil {
		log.Warn("applying cancel order; it will be retried", "err", err)
	}
	if msg.ReceiveCount >= CancelMaxReceives && ctx.Err() == nil {
		w.giveUpCancel(ctx, q, msg, co, err)
		return
	}
	if err := q.ChangeVisibility(sctx, msg.Receipt, w.cancelRetry(msg.ReceiveCount)); err != nil && !errors.Is(err, queue.ErrInvalidReceipt) {
		log.Warn("deferring cancel order", "err", err)
	}
}

// CancelMaxReceives bounds how often a cancel order is received while
// its job has no task: then it goes to the run dead-letter queue with its
// reason. It stays below the run queues' redrive limit
// (topology.RunMaxReceives), so the order is dead-lettered readably
// rather than moved there raw. With the growing delay it spans about 1+2+4+…+Visibility
// seconds: minutes, longer than any start takes.
const CancelMaxReceives = 8

// giveUpCancel dead-letters a cancel order whose job never got a task in
// time. The job stays cancelled: the journaled cancel_requested keeps any
// worker from starting it.
func (w *Worker) giveUpCancel(ctx context.Context, q queue.Queue, msg queue.Message, co schemas.CancelOrder, last error) {
	reason := fmt.Sprintf("job %s had no task to stop after %d tries; the journaled cancel still keeps it from starting", co.JobID, msg.ReceiveCount)
	dl := schemas.DeadLetter{JobID: co.JobID, Raw: string(msg.Body), Failure: schemas.Failure{
		Outcome: schemas.OutcomeCancelled, Reason: reason, ReasonCode: "cancel_undelivered",
		Attempts: msg.ReceiveCount, Time: time.Now().UTC(),
	}}
	if last != nil {
		dl.Failure.LastError = last.Error()
	}
	if err := w.deadLetter(ctx, dl); err != nil {
		w.jobLog(co.JobID).Error("dead-lettering cancel order; it will be retried", "err", err)
		return
	}
	dctx, cancel := w.call(context.WithoutCancel(ctx))
	defer cancel()
	if err := q.Delete(dctx, msg.Receipt); err != nil && !errors.Is(err, queue.ErrInvalidReceipt) {
		w.jobLog(co.JobID).Warn("deleting dead-lettered cancel order", "err", err)
	}
	w.jobLog(co.JobID).Warn("cancel order dead-lettered", "reason", reason)
}

// applyCancel reports whether the cancel order is done with: the job's
// task has been asked to stop, or the job has ended.
func (w *Worker) applyCancel(ctx context.Context, co schemas.CancelOrder) (bool, error) {
	ctx, cancel := w.call(ctx)
	defer cancel()
	attempt := 1
	var history []schemas.JobEvent
	if w.Journal != nil {
		var err error
		history, err = w.Journal.Read(ctx, co.JobID)
		if err != nil && !errors.Is(err, journal.ErrNotFound) {
			return false, fmt.Errorf("reading journal of job %s: %w", co.JobID, err)
		}
		for _, ev := range history {
			if ev.Type.Terminal() {
				return true, nil
			}
			attempt = max(attempt, ev.Attempt)
		}
	}
	t, err := w.Runner.Find(ctx, co.JobID, attempt)
	switch {
	case errors.Is(err, runner.ErrNotFound):
		// No task. Once the cancel is old enough for every journal
		// reader to see it, a job whose start is not under way (no
		// starting event) never starts: whoever starts it journals
		// starting first and then finds the cancel. Otherwise a later
		// try stops the task that is coming.
		if w.Journal != nil && !starting(history, attempt) && time.Since(co.RequestedAt) > cancelSettle {
			return true, nil
		}
		return false, nil
	case err != nil:
		return false, fmt.Errorf("finding task of job %s: %w", co.JobID, err)
	case t.Status == runner.StatusStopped:
		return true, nil // its tracker ends the job
	}
	reason := schemas.CancelStopReason(co.Caller.Principal, co.Reason)
	if err := w.Runner.Stop(ctx, t.ID, reason); err != nil && !errors.Is(err, runner.ErrNotFound) {
		return false, fmt.Errorf("stopping task %s of job %s: %w", t.ID, co.JobID, err)
	}
	w.jobLog(co.JobID).Info("cancelled job's task stopping", "attempt", attempt, "task_id", t.ID, "reason", reason)
	return true, nil
}

// cancelSettle is how old a cancel must be before every worker's journal
// read is sure to see it (CloudWatch Logs reads lag writes by seconds).
const cancelSettle = 30 * time.Second

// starting reports whether a start of the attempt is journaled.
func starting(history []schemas.JobEvent, attempt int) bool {
	for _, ev := range history {
		if ev.Type == schemas.EventStarting && ev.Attempt == attempt {
			return true
		}
	}
	return false
}

// cancelRetry is how long a cancel order waiting for its job's task
// stays hidden: 1s, doubling with each receive, at most Visibility.
func (w *Worker) cancelRetry(receives int) time.Duration {
	d := time.Second << min(max(receives-1, 0), 8)
	return min(d, w.Visibility)
}

// cancelRequested reports whether the job has been cancelled, from the
// journal (one read), and the stop reason that says by whom. A journal
// that cannot be read is logged and taken as no: the cancel order stops
// the task if it started meanwhile.
func (w *Worker) cancelRequested(ctx context.Context, o schemas.RunOrder) (string, bool) {
	if w.Journal == nil {
		return "", false
	}
	rctx, cancel := w.call(ctx)
	defer cancel()
	history, err := w.Journal.Read(rctx, o.JobID)
	if err != nil {
		if !errors.Is(err, journal.ErrNotFound) {
			w.logFor(ctx, o).Warn("reading journal before start", "err", err)
		}
		return "", false
	}
	for _, ev := range history {
		if ev.Type == schemas.EventCancelRequested {
			return schemas.CancelStopReason(ev.Principal, ev.Reason), true
		}
	}
	return "", false
}

// startCancelled ends a job cancelled before its task started. A task
// that did start (before the cancel, by a worker that died since) is
// adopted and stopped instead, and ends the job when it stops.
func (w *Worker) startCancelled(ctx context.Context, j *job, reason string) {
	o := j.order
	log := j.log
	fctx, cancel := w.call(ctx)
	t, err := w.Runner.Find(fctx, o.JobID, o.Attempt)
	cancel()
	switch {
	case errors.Is(err, runner.ErrNotFound):
		log.Info("job cancelled before its task started", "reason", reason)
		w.finish(ctx, j, schemas.OutcomeCancelled, nil, cancelledReason(reason)+" (the task never started)", "cancelled", -1, 0)
		return
	case err != nil:
		if ctx.Err() == nil {
			log.Warn("finding task of cancelled job; handing the order back", "err", err)
			w.forget(ctx, j, false)
		}
		return
	}
	if t.Status != runner.StatusStopped {
		sctx, cancel := w.call(ctx)
		err := w.Runner.Stop(sctx, t.ID, reason)
		cancel()
		if err != nil {
			log.Warn("stopping task of cancelled job; the cancel order will retry", "task_id", t.ID, "err", err)
		}
	}
	w.mu.Lock()
	j.task = t
	j.started = true
	j.mayRun = true
	w.mu.Unlock()
}

// cancelledReason turns a cancel stop reason into the reason of the
// job's terminal cancelled event ("requested by user:alice: why").
func cancelledReason(stopReason string) string {
	r := strings.TrimPrefix(stopReason, schemas.StopReasonCancelled)
	r = strings.TrimSpace(strings.TrimPrefix(r, ":"))
	if r == "" {
		return "stop requested"
	}
	return r
}

func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
