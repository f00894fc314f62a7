package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/worker"
)

func (r *rig) sendCancel(t *testing.T, job string) { r.sendCancelAt(t, job, time.Now()) }

func (r *rig) sendCancelAt(t *testing.T, job string, at time.Time) {
	t.Helper()
	body, err := schemas.CancelOrder{
		JobID: job, RequestID: "01JD3Q8Z5W6X7Y8Z9A0B1C2D4A", Lane: "default", Reason: "wrong ref",
		Caller: schemas.Identity{Principal: "user:bob", Source: "os_user"}, RequestedAt: at,
	}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.cancels.Send(context.Background(), queue.Outgoing{Body: body}); err != nil {
		t.Fatal(err)
	}
}

// task returns the fake runner's task of a job's first attempt.
func (r *rig) task(job string) (runner.Task, bool) {
	r.runner.mu.Lock()
	defer r.runner.mu.Unlock()
	t, ok := r.runner.tasks[taskID(job, 1)]
	if !ok {
		return runner.Task{}, false
	}
	return *t, true
}

// waitCancelled waits until the job's task was stopped by a cancel.
func (r *rig) waitCancelled(t *testing.T, job string) runner.Task {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if task, ok := r.task(job); ok && task.Status == runner.StatusStopped {
			if task.StopCode != runner.StopRequested || !strings.HasPrefix(task.StopReason, schemas.StopReasonCancelled) ||
				!strings.Contains(task.StopReason, "user:bob") || !strings.Contains(task.StopReason, "wrong ref") {
				t.Fatalf("task stopped with %s %q, want a cancel by user:bob", task.StopCode, task.StopReason)
			}
			return task
		}
		select {
		case <-deadline.C:
			t.Fatalf("the task of job %s was not stopped", job)
		case <-tick.C:
		}
	}
}

func (r *rig) noDeadLetters(t *testing.T) {
	t.Helper()
	if msgs, _ := r.dlq.Receive(context.Background(), queue.ReceiveOptions{Max: 10}); len(msgs) != 0 {
		t.Errorf("a cancelled job was dead-lettered: %s", msgs[0].Body)
	}
}

func TestCancelStopsATrackedTask(t *testing.T) {
	r := newRig(t)
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"
	r.send(t, order(job))
	<-r.runner.started
	r.sendCancel(t, job)
	ev, _ := r.terminal(t, job)
	if ev.Type != schemas.EventCancelled || ev.Outcome != schemas.OutcomeCancelled ||
		!strings.Contains(ev.Reason, "requested by user:bob: wrong ref") || ev.ReasonCode != "cancelled" {
		t.Fatalf("terminal %+v, want cancelled by user:bob", ev)
	}
	r.waitCancelled(t, job)
	r.noDeadLetters(t)
	// The order was deleted, not deferred: it does not come back.
	if msgs, err := r.cancels.Receive(context.Background(), queue.ReceiveOptions{Max: 10, Wait: 2 * time.Second}); err != nil || len(msgs) != 0 {
		t.Errorf("cancel queue still holds %d orders (%v)", len(msgs), err)
	}
}

func TestCancelStopsATaskAnotherWorkerTracks(t *testing.T) {
	r := newRig(t)
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3F"
	// Another worker started the task; this one does not track it.
	if _, err := r.runner.Start(context.Background(), runner.Spec{JobID: job, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	<-r.runner.started
	r.sendCancel(t, job)
	r.waitCancelled(t, job)

	// The worker tracking it sees the stop reason and ends the job
	// cancelled (here: this worker adopting the redelivered run order).
	r.send(t, order(job))
	ev, _ := r.terminal(t, job)
	if ev.Type != schemas.EventCancelled || !strings.Contains(ev.Reason, "user:bob") {
		t.Fatalf("terminal %+v, want cancelled", ev)
	}
	r.noDeadLetters(t)
}

func TestCancelledQueuedJobNeverStarts(t *testing.T) {
	r := newRig(t)
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3G"
	// The gatekeeper journals the cancel before it sends the order.
	if err := r.journal.Append(context.Background(), job, schemas.JobEvent{
		Schema: schemas.JobEventV1, JobID: job, ID: "gatekeeper:cancel_requested:x", Time: time.Now(),
		Type: schemas.EventCancelRequested, Attempt: 1, Principal: "user:bob", Reason: "wrong ref",
	}); err != nil {
		t.Fatal(err)
	}
	r.sendCancel(t, job)
	r.send(t, order(job))
	ev, all := r.terminal(t, job)
	if ev.Type != schemas.EventCancelled || ev.Outcome != schemas.OutcomeCancelled ||
		!strings.Contains(ev.Reason, "user:bob: wrong ref") || !strings.Contains(ev.Reason, "never started") {
		t.Fatalf("terminal %+v, want cancelled before start", ev)
	}
	for _, e := range all {
		if e.Type == schemas.EventStarted {
			t.Errorf("a cancelled queued job reported %s", e.Type)
		}
	}
	r.runner.mu.Lock()
	starts := len(r.runner.starts)
	r.runner.mu.Unlock()
	if starts != 0 {
		t.Errorf("%d task starts for a job cancelled while queued", starts)
	}
	r.noDeadLetters(t)
}

// A cancel order that finds no task yet (its run order is in flight) is
// kept, and stops the task once it appears.
func TestCancelOrderWaitsForItsTask(t *testing.T) {
	r := newRig(t)
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3H"
	r.sendCancel(t, job)
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		r.runner.mu.Lock()
		finds := r.runner.finds
		r.runner.mu.Unlock()
		if finds > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cancel order was never acted on")
		}
		<-tick.C
	}
	// The task starts after the cancel order looked for it.
	if _, err := r.runner.Start(context.Background(), runner.Spec{JobID: job, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	r.waitCancelled(t, job)
}

func TestUnreadableCancelOrdersAreDeadLettered(t *testing.T) {
	r := newRig(t)
	for _, body := range []string{`{"schema":"cancel_order/v9","job_id":"01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"}`, `{"schema":"cancel_order/v1","job_id":"nope"}`} {
		if _, err := r.cancels.Send(context.Background(), queue.Outgoing{Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	codes := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(codes) < 2 && time.Now().Before(deadline) {
		msgs, err := r.dlq.Receive(context.Background(), queue.ReceiveOptions{Max: 10, Wait: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			dl, err := schemas.DecodeDeadLetter(m.Body)
			if err != nil || dl.Raw == "" {
				t.Fatalf("dead letter %+v (%v)", dl, err)
			}
			codes[dl.Failure.ReasonCode] = true
		}
	}
	if !codes["unsupported_schema"] || !codes["malformed_cancel_order"] {
		t.Fatalf("dead letter reason codes %v, want unsupported_schema and malformed_cancel_order", codes)
	}
}

// A cancel order whose job never gets a task is dead-lettered with its
// reason after CancelMaxReceives tries, not moved there raw by the
// redrive (topology.RunMaxReceives), which the rig's cancel queue has.
func TestCancelOrderWithoutATaskIsDeadLetteredInTheEnd(t *testing.T) {
	if worker.CancelMaxReceives >= topology.RunMaxReceives {
		t.Fatalf("CancelMaxReceives %d: the run queues' redrive (%d receives) would move the order raw first", worker.CancelMaxReceives, topology.RunMaxReceives)
	}
	r := newRig(t, func(o *worker.Options) { o.Visibility = 300 * time.Millisecond })
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3J"
	r.sendCancel(t, job)
	msgs, err := r.dlq.Receive(context.Background(), queue.ReceiveOptions{Max: 1, Wait: 15 * time.Second})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("dead letters %d (%v), want 1", len(msgs), err)
	}
	dl, err := schemas.DecodeDeadLetter(msgs[0].Body)
	if err != nil || dl.JobID != job || dl.Failure.ReasonCode != "cancel_undelivered" ||
		dl.Failure.Attempts != worker.CancelMaxReceives || !strings.Contains(dl.Raw, schemas.CancelOrderV1) {
		t.Fatalf("dead letter %+v (%v)", dl, err)
	}
	r.runner.mu.Lock()
	finds := r.runner.finds
	r.runner.mu.Unlock()
	if finds != worker.CancelMaxReceives {
		t.Errorf("the order looked for its task %d times, want %d", finds, worker.CancelMaxReceives)
	}
}

// A settled cancel of a job whose start is not under way is done with:
// the journaled cancel keeps the job from ever starting, so the order is
// neither kept nor dead-lettered.
func TestSettledCancelOfAQueuedJobIsDoneWith(t *testing.T) {
	r := newRig(t)
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3K"
	if err := r.journal.Append(context.Background(), job, schemas.JobEvent{
		Schema: schemas.JobEventV1, JobID: job, ID: "gatekeeper:1:accepted", Time: time.Now(), Type: schemas.EventAccepted, Attempt: 1,
	}); err != nil {
		t.Fatal(err)
	}
	r.sendCancelAt(t, job, time.Now().Add(-time.Minute))
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		r.runner.mu.Lock()
		finds := r.runner.finds
		r.runner.mu.Unlock()
		if finds > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cancel order was never acted on")
		}
		<-tick.C
	}
	// Kept, it would be visible again within a second.
	if msgs, err := r.cancels.Receive(context.Background(), queue.ReceiveOptions{Max: 10, Wait: 2 * time.Second}); err != nil || len(msgs) != 0 {
		t.Errorf("the cancel order is still queued (%d, %v)", len(msgs), err)
	}
	r.noDeadLetters(t)
}
