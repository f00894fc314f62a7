package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/schemas"
)

// takeCanary sees a canary's order through (schemas.RunOrder.Canary): its
// task runs the image's entrypoint with the version probe, and it holds
// no lane lease and no slot of the worker's capacity, like a cancel
// order: a lane full of hours-long applies, or a busy worker, never
// makes a canary wait. The gatekeeper sends each canary's order twice,
// to its lane's run queue and to the cancel queue (which every worker
// receives from whatever room it has): the copy received first runs it,
// a copy received while it runs is kept beside the first delivery (and
// deleted with it), and a copy received after its end is deleted.
func (w *Worker) takeCanary(ctx context.Context, q queue.Queue, msg queue.Message, order schemas.RunOrder) {
	arr := arrivalOf(ctx, msg, order)
	log := w.orderLog(order, arr.parent).With("queue", q.Name())
	k := key(order.JobID, order.Attempt)
	if w.addDelivery(k, q, msg.Receipt) {
		return
	}
	ended, err := w.attemptEnded(ctx, order)
	if err != nil {
		log.Warn("reading the journal of a canary; taking it", "err", err)
	}
	if ended {
		dctx, cancel := w.call(context.WithoutCancel(ctx))
		defer cancel()
		if err := q.Delete(dctx, msg.Receipt); err != nil && !errors.Is(err, queue.ErrInvalidReceipt) {
			log.Warn("deleting the copy of a canary that has ended", "err", err)
		}
		return
	}
	w.mu.Lock()
	if j, dup := w.jobs[k]; dup {
		j.deliveries = append(j.deliveries, delivery{q: q, receipt: msg.Receipt})
		w.mu.Unlock()
		return
	}
	sctx, stopStart := context.WithCancel(ctx)
	j := w.newJob(ctx, order, q, msg.Receipt, "", stopStart, arr)
	w.jobs[k] = j
	w.mu.Unlock()
	log.Info("canary taken; it holds no lane slot")
	w.starts.Go(func() {
		defer stopStart()
		w.start(sctx, j)
	})
}

// canaryOfCancelQueue takes a run order received from the cancel queue:
// a canary's copy. Any other run order there would run outside its
// lane's limit: it is dead-lettered with its reason instead.
func (w *Worker) canaryOfCancelQueue(ctx context.Context, q queue.Queue, msg queue.Message) {
	order, err := schemas.DecodeRunOrder(msg.Body)
	if err == nil && !order.Canary {
		err = fmt.Errorf("%w: the run order of job %s is in the cancel queue, where only canaries' orders go: it would run outside its lane's limit",
			schemas.ErrMalformed, order.JobID)
	}
	if err != nil {
		w.poison(ctx, q, msg, err)
		return
	}
	w.takeCanary(ctx, q, msg, order)
}

// addDelivery adds a receipt to the tracked job k and reports whether it
// is tracked.
func (w *Worker) addDelivery(k string, q queue.Queue, receipt string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	j, ok := w.jobs[k]
	if ok {
		j.deliveries = append(j.deliveries, delivery{q: q, receipt: receipt})
	}
	return ok
}

// attemptEnded reports whether the journal holds the end of the order's
// attempt. Without a journal nothing is known to have ended.
func (w *Worker) attemptEnded(ctx context.Context, o schemas.RunOrder) (bool, error) {
	if w.Journal == nil {
		return false, nil
	}
	rctx, cancel := w.call(ctx)
	defer cancel()
	history, err := w.Journal.Read(rctx, o.JobID)
	if errors.Is(err, journal.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading journal of job %s: %w", o.JobID, err)
	}
	for _, ev := range history {
		if ev.Type.Terminal() && max(ev.Attempt, 1) == o.Attempt {
			return true, nil
		}
	}
	return false, nil
}
