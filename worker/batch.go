package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/internal/lane"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/schemas"
)

// A batch's max_in_flight is a lane of its own: each running job of the
// batch holds a lease of it beside its lane's, so the bound holds across
// workers and survives them like a lane's limit. A run order whose batch
// is full when it is received is parked: held by this worker, hidden by
// heartbeats like a tracked order (so it is not received again and again
// towards the redrive limit), holding no lease and no capacity, and
// started before any new order of its lane once its batch has room.

// batchLanePrefix starts the name of a batch's lane.
const batchLanePrefix = "batch/"

// batchLane returns the lane that bounds the order's batch and its limit;
// ok is false when the batch has no bound of its own.
func batchLane(o schemas.RunOrder) (name string, limit int, ok bool) {
	b := o.Request.Batch
	if o.Request.BatchID == "" || b == nil || b.MaxInFlight < 1 {
		return "", 0, false
	}
	return batchLanePrefix + o.Request.BatchID, b.MaxInFlight, true
}

// parkedOrder is a run order received while its batch was full.
type parkedOrder struct {
	order schemas.RunOrder
	q     queue.Queue
	// lane is the lane of the queue it came from.
	lane    string
	receipt string
	// arrival is how its message came (see newJob).
	arrival arrival
}

// maxParked bounds the run orders one worker parks from one lane's queue;
// past it, the worker receives no more orders of that lane until some
// start (other lanes go on).
func (w *Worker) maxParked() int { return 8 * w.Capacity }

// batchLease gives the order's job a lease of its batch's lane under
// holder, and reports whether it has one (always, for a batch without a
// bound).
func (w *Worker) batchLease(ctx context.Context, o schemas.RunOrder, holder string) bool {
	bl, limit, ok := batchLane(o)
	if !ok {
		return true
	}
	w.mu.Lock()
	w.batchLanes[bl] = limit
	w.mu.Unlock()
	cctx, cancel := w.call(ctx)
	defer cancel()
	got, err := w.Lanes.Acquire(cctx, bl, limit, holder, w.leaseTTL())
	if err != nil {
		w.logFor(ctx, o).Warn("acquiring the lease of a batch", "batch_id", o.Request.BatchID, "err", err)
		return false
	}
	return got
}

// releaseBatch gives the job's lease of its batch's lane back.
func (w *Worker) releaseBatch(ctx context.Context, o schemas.RunOrder, holder string) {
	if bl, _, ok := batchLane(o); ok {
		w.release(ctx, bl, holder)
	}
}

// park holds a run order whose batch is full until it has room.
func (w *Worker) park(ctx context.Context, q queue.Queue, msg queue.Message, o schemas.RunOrder, laneName string) {
	k := key(o.JobID, o.Attempt)
	w.mu.Lock()
	_, again := w.parked[k]
	arr := arrivalOf(ctx, msg, o)
	w.parked[k] = &parkedOrder{order: o, q: q, lane: laneName, receipt: msg.Receipt, arrival: arr}
	w.mu.Unlock()
	if again {
		return
	}
	_, limit, _ := batchLane(o)
	ev := w.event(o, schemas.EventQueued)
	ev.ID = fmt.Sprintf("worker:%d:batch-full", o.Attempt)
	ev.Reason = fmt.Sprintf("waiting for room in batch %s: %d of its jobs run at once (max_in_flight)", o.Request.Batch.Name, limit)
	w.publish(ctx, o, ev)
	w.orderLog(o, arr.parent).Info("run order parked: its batch is full", "batch_id", o.Request.BatchID)
}

// parkedIn lists the orders parked from a lane's queue, oldest job first.
func (w *Worker) parkedIn(laneName string) []*parkedOrder {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*parkedOrder
	for _, p := range w.parked {
		if p.lane == laneName {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *parkedOrder) int {
		return cmp.Or(cmp.Compare(a.order.JobID, b.order.JobID), cmp.Compare(a.order.Attempt, b.order.Attempt))
	})
	return out
}

// parkedAhead reports whether this worker holds an order parked from the
// lane's queue for an earlier job of o's batch (or an earlier attempt of
// o's): o waits behind it, as unpark has later jobs of a batch wait
// behind one it found full.
func (w *Worker) parkedAhead(o schemas.RunOrder, laneName string) bool {
	if _, _, ok := batchLane(o); !ok {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.parked {
		if p.lane != laneName || p.order.Request.BatchID != o.Request.BatchID {
			continue
		}
		if cmp.Or(cmp.Compare(p.order.JobID, o.JobID), cmp.Compare(p.order.Attempt, o.Attempt)) < 0 {
			return true
		}
	}
	return false
}

// parkedCount is how many orders are parked from a lane's queue.
func (w *Worker) parkedCount(laneName string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, p := range w.parked {
		if p.lane == laneName {
			n++
		}
	}
	return n
}

// unpark starts the oldest order parked from the lane's queue whose batch
// has room, with the slot reserved in the lane (if any). took reports
// whether it started one; spent whether the reservation is gone without
// one starting (the lane filled meanwhile). Within a batch, jobs start in
// order: once one finds its batch full, the later ones of that batch wait
// too, even if a slot frees meanwhile (a running job's lease released
// while this pass looks).
func (w *Worker) unpark(ctx context.Context, laneName, reservation string) (took, spent bool) {
	full := map[string]bool{}
	for _, p := range w.parkedIn(laneName) {
		o := p.order
		if full[o.Request.BatchID] {
			continue
		}
		holder := leaseHolder(o.JobID, o.Attempt)
		if !w.batchLease(ctx, o, holder) {
			full[o.Request.BatchID] = true
			continue
		}
		if !w.lease(ctx, o, laneName, reservation, holder, w.orderLog(o, p.arrival.parent)) {
			w.releaseBatch(ctx, o, holder)
			return false, true
		}
		k := key(o.JobID, o.Attempt)
		w.mu.Lock()
		if w.parked[k] != p {
			// Dropped meanwhile (its receipt went stale): its lease is
			// not ours to keep.
			w.mu.Unlock()
			w.releaseBatch(ctx, o, holder)
			w.release(ctx, o.Lane, holder)
			return false, true
		}
		delete(w.parked, k)
		sctx, stopStart := context.WithCancel(ctx)
		j := w.newJob(ctx, o, p.q, p.receipt, holder, stopStart, p.arrival)
		w.jobs[k] = j
		w.mu.Unlock()
		w.starts.Go(func() {
			defer stopStart()
			w.start(sctx, j)
		})
		return true, false
	}
	return false, false
}

// beatParked keeps parked orders hidden, dropping those whose receipt the
// queue calls stale (received by another worker, or deleted).
func (w *Worker) beatParked(ctx context.Context) {
	w.mu.Lock()
	parked := make([]*parkedOrder, 0, len(w.parked))
	for _, p := range w.parked {
		parked = append(parked, p)
	}
	w.mu.Unlock()
	for _, p := range parked {
		err := p.q.ChangeVisibility(ctx, p.receipt, w.Visibility)
		switch {
		case errors.Is(err, queue.ErrInvalidReceipt):
			w.dropParked(p)
		case err != nil && ctx.Err() == nil:
			w.orderLog(p.order, p.arrival.parent).Warn("keeping a parked run order hidden", "err", err)
		}
	}
}

// dropParked forgets a parked order, settling nothing; it reports whether
// the order was still parked.
func (w *Worker) dropParked(p *parkedOrder) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := key(p.order.JobID, p.order.Attempt)
	if w.parked[k] != p {
		return false
	}
	delete(w.parked, k)
	return true
}

// handBackParked makes every parked order visible again, for the workers
// left (a stopping worker).
func (w *Worker) handBackParked(ctx context.Context) {
	w.mu.Lock()
	parked := make([]*parkedOrder, 0, len(w.parked))
	for _, p := range w.parked {
		parked = append(parked, p)
	}
	w.mu.Unlock()
	for _, p := range parked {
		if !w.dropParked(p) {
			continue
		}
		cctx, cancel := w.call(context.WithoutCancel(ctx))
		if err := p.q.ChangeVisibility(cctx, p.receipt, 0); err != nil && !errors.Is(err, queue.ErrInvalidReceipt) {
			w.orderLog(p.order, p.arrival.parent).Warn("handing back a parked run order", "err", err)
		}
		cancel()
	}
}

// batchFailure returns, for a job of a fail_fast batch, the terminal event
// of a job of the batch other than except ("" for any) that did not
// succeed, from the batch's journal (one read).
func (w *Worker) batchFailure(ctx context.Context, o schemas.RunOrder, except string) (schemas.JobEvent, bool) {
	if w.Journal == nil || o.Request.Batch == nil || !o.Request.Batch.FailFast {
		return schemas.JobEvent{}, false
	}
	rctx, cancel := w.call(ctx)
	defer cancel()
	history, err := w.Journal.Read(rctx, o.Request.BatchID)
	if err != nil {
		if !errors.Is(err, journal.ErrNotFound) && ctx.Err() == nil {
			w.Logger.Warn("reading the journal of a fail_fast batch", "batch_id", o.Request.BatchID, "err", err)
		}
		return schemas.JobEvent{}, false
	}
	return firstFailure(history, except)
}

// firstFailure returns the first terminal event of a batch's journal, of
// a job other than jobID, that fails the batch.
func firstFailure(history []schemas.JobEvent, jobID string) (schemas.JobEvent, bool) {
	for _, ev := range history {
		if ev.JobID != jobID && schemas.BatchFailed(ev) {
			return ev, true
		}
	}
	return schemas.JobEvent{}, false
}

// failFastReason is the stop reason of a job ended because another job of
// its fail_fast batch failed.
func failFastReason(o schemas.RunOrder, failed schemas.JobEvent) string {
	return fmt.Sprintf("%s: fail_fast: job %s of batch %s did not succeed (%s)",
		schemas.StopReasonCancelled, failed.JobID, o.Request.BatchID, failed.Outcome)
}

// failFast ends what this worker holds of a fail_fast batch once one of
// its jobs failed: parked orders end cancelled at once, running tasks are
// stopped (and end cancelled when they stop). Other workers find the
// failure in the batch's journal (see checkBatches).
func (w *Worker) failFast(ctx context.Context, batchID string, failed schemas.JobEvent) {
	w.mu.Lock()
	var parked []*parkedOrder
	for _, p := range w.parked {
		if p.order.Request.BatchID == batchID && p.order.JobID != failed.JobID {
			parked = append(parked, p)
		}
	}
	var running []*job
	for _, j := range w.jobs {
		if j.order.Request.BatchID == batchID && j.order.JobID != failed.JobID && j.started && j.stopping == "" &&
			j.task.Status != runner.StatusStopped {
			j.stopping = stopCancel
			running = append(running, j)
		}
	}
	w.mu.Unlock()
	for _, p := range parked {
		if w.dropParked(p) {
			w.endParked(ctx, p, failFastReason(p.order, failed))
		}
	}
	for _, j := range running {
		sctx, cancel := w.call(ctx)
		err := w.Runner.Stop(sctx, j.task.ID, failFastReason(j.order, failed))
		cancel()
		if err != nil {
			w.mu.Lock()
			j.stopping = ""
			w.mu.Unlock()
			j.log.Warn("stopping a job of a failed fail_fast batch; will retry", "err", err)
			continue
		}
		j.log.Info("stopping a job of a failed fail_fast batch", "batch_id", batchID, "failed_job", failed.JobID)
	}
}

// endParked ends a parked order's job as cancelled: its task never ran.
func (w *Worker) endParked(ctx context.Context, p *parkedOrder, stopReason string) {
	o := p.order
	ev := w.event(o, schemas.EventCancelled)
	ev.Outcome, ev.ReasonCode = schemas.OutcomeCancelled, "cancelled"
	ev.Reason = cancelledReason(stopReason) + " (the task never started)"
	w.publish(ctx, o, ev)
	w.observe(o, schemas.OutcomeCancelled, 0)
	log := w.orderLog(o, p.arrival.parent)
	dctx, cancel := w.call(context.WithoutCancel(ctx))
	defer cancel()
	if err := p.q.Delete(dctx, p.receipt); err != nil && !errors.Is(err, queue.ErrInvalidReceipt) {
		log.Warn("deleting the run order of a cancelled parked job", "err", err)
	}
	log.Info("parked job cancelled", "reason", ev.Reason)
}

// checkBatches looks, at most every batchCheckEvery per batch, for a
// failure in the fail_fast batches whose jobs this worker runs or parks,
// so that a failure another worker saw ends them here too.
func (w *Worker) checkBatches(ctx context.Context) {
	now := time.Now()
	w.mu.Lock()
	due := map[string]schemas.RunOrder{}
	consider := func(o schemas.RunOrder) {
		b := o.Request.Batch
		if b == nil || !b.FailFast || now.Sub(w.batchChecked[o.Request.BatchID]) < w.batchCheckEvery() {
			return
		}
		due[o.Request.BatchID] = o
	}
	for _, j := range w.jobs {
		consider(j.order)
	}
	for _, p := range w.parked {
		consider(p.order)
	}
	for id := range due {
		w.batchChecked[id] = now
	}
	for id, at := range w.batchChecked {
		if now.Sub(at) > time.Hour {
			delete(w.batchChecked, id)
		}
	}
	w.mu.Unlock()
	for id, o := range due {
		// The order is of any job of the batch: every job's failure
		// ends it.
		if failed, ok := w.batchFailure(ctx, o, ""); ok {
			w.failFast(ctx, id, failed)
		}
	}
}

// batchCheckEvery is how often a fail_fast batch's journal is read while
// this worker holds jobs of it.
func (w *Worker) batchCheckEvery() time.Duration { return 5 * w.Poll }

// renewBatch renews the job's lease of its batch's lane (a heartbeat),
// taking it again when it lapsed.
func (w *Worker) renewBatch(ctx context.Context, j *job) {
	bl, limit, ok := batchLane(j.order)
	if !ok {
		return
	}
	err := w.Lanes.Renew(ctx, bl, j.lease, w.leaseTTL())
	if errors.Is(err, lane.ErrNotHeld) && w.tracking(j) {
		var got bool
		if got, err = w.Lanes.Acquire(ctx, bl, limit, j.lease, w.leaseTTL()); err == nil && !got {
			j.log.Error("the job's batch lease lapsed and the batch filled meanwhile: the batch may run one job over its max_in_flight until this one ends",
				"batch_id", j.order.Request.BatchID)
			return
		}
	}
	if err != nil && !errors.Is(err, lane.ErrNotHeld) && ctx.Err() == nil {
		j.log.Warn("renewing batch lease", "err", err)
	}
}
