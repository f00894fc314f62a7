package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/internal/stream/sqlitestream"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/worker"
)

// canaryOrder is a canary's order, as the gatekeeper resolves it.
func canaryOrder(job string, laneLimit int) schemas.RunOrder {
	return schemas.RunOrder{
		JobID: job, Attempt: 1, Container: "c", Canary: true, Stream: sqlitestream.Address(job),
		Timeout: schemas.Duration(5 * time.Minute), DeadLetterOn: []schemas.Outcome{}, Lane: "default", LaneLimit: laneLimit,
		Request: schemas.JobRequest{JobID: job, Container: "c", Canary: true, Stream: sqlitestream.Address(job), Attempt: 1},
	}
}

// sendTo sends the order to q (its stream made first, once).
func (r *rig) sendTo(t *testing.T, q queue.Queue, o schemas.RunOrder) {
	t.Helper()
	_, _ = r.streams.Create(context.Background(), o.JobID, time.Hour)
	body, err := o.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Send(context.Background(), queue.Outgoing{Body: body}); err != nil {
		t.Fatal(err)
	}
}

func started(t *testing.T, r *rig) string {
	t.Helper()
	select {
	case id := <-r.runner.started:
		return id
	case <-time.After(20 * time.Second):
		t.Fatal("no task started")
		return ""
	}
}

// peek lists what a queue holds, without receiving it.
func peek(t *testing.T, q queue.Queue) []queue.Message {
	t.Helper()
	msgs, err := q.(interface {
		Peek(context.Context, int) ([]queue.Message, error)
	}).Peek(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// TestCanaryRunsWhileItsLaneIsFull: with the lane's one slot taken by a
// job that runs on, a canary (its copies in the lane queue and the
// cancel queue, as the gatekeeper sends them) runs at once, through the
// version probe, without a lane lease. Once the lane frees, its copy in
// the lane queue is dropped without a second task.
func TestCanaryRunsWhileItsLaneIsFull(t *testing.T) {
	r := newRig(t)
	const busy, canary = "01JD3Q8Z5W6X7Y8Z9A0B1C2D5A", "01JD3Q8Z5W6X7Y8Z9A0B1C2D5B"
	o := order(busy)
	o.LaneLimit = 1
	r.send(t, o)
	if id := started(t, r); id != taskID(busy, 1) {
		t.Fatalf("started %s first", id)
	}
	r.runner.exits[taskID(canary, 1)] = 0
	c := canaryOrder(canary, 1)
	r.sendTo(t, r.lane, c)
	r.sendTo(t, r.cancels, c)
	if id := started(t, r); id != taskID(canary, 1) {
		t.Fatalf("started %s, want the canary's task", id)
	}
	ev, _ := r.terminal(t, canary)
	if ev.Outcome != schemas.OutcomeSucceeded {
		t.Fatalf("canary ended %+v", ev)
	}
	r.runner.mu.Lock()
	spec := r.runner.specs[taskID(canary, 1)]
	r.runner.mu.Unlock()
	if !spec.Canary || spec.Script != "" {
		t.Errorf("the canary's task spec %+v, want a canary", spec)
	}
	if ls := r.leases(t); len(ls) != 1 || ls[0].Holder != fmt.Sprintf("job/%s/1", busy) {
		t.Errorf("lane leases %+v, want the busy job's only", ls)
	}
	// The busy job ends: the lane queue's copy of the canary is received
	// and dropped, and no second task starts.
	r.runner.exit(taskID(busy, 1), 0)
	r.terminal(t, busy)
	waitFor(t, "the lane queue to be empty", func() bool { return len(peek(t, r.lane)) == 0 })
	r.runner.mu.Lock()
	defer r.runner.mu.Unlock()
	if n := r.runner.starts[taskID(canary, 1)]; n != 1 {
		t.Errorf("the canary was started %d times, want once", n)
	}
	if msgs, _ := r.dlq.Receive(context.Background(), queue.ReceiveOptions{Max: 10}); len(msgs) != 0 {
		t.Errorf("%d dead letters", len(msgs))
	}
}

// TestCanaryHoldsNoLaneLease: a canary received from its lane queue gives
// back the slot reserved for the receive: while it runs, a job of its
// lane of one slot runs too.
func TestCanaryHoldsNoLaneLease(t *testing.T) {
	r := newRig(t)
	const warm, canary, next = "01JD3Q8Z5W6X7Y8Z9A0B1C2D6A", "01JD3Q8Z5W6X7Y8Z9A0B1C2D6B", "01JD3Q8Z5W6X7Y8Z9A0B1C2D6C"
	// A first job teaches the worker the lane's limit, so that it
	// reserves the lane's one slot before each receive.
	r.runner.exits[taskID(warm, 1)] = 0
	o := order(warm)
	o.LaneLimit = 1
	r.send(t, o)
	r.terminal(t, warm)
	started(t, r)
	r.sendTo(t, r.lane, canaryOrder(canary, 1))
	if id := started(t, r); id != taskID(canary, 1) {
		t.Fatalf("started %s, want the canary", id)
	}
	o = order(next)
	o.LaneLimit = 1
	r.send(t, o)
	if id := started(t, r); id != taskID(next, 1) {
		t.Fatalf("started %s, want the lane's next job", id)
	}
	if n := r.w.Jobs(); n != 2 {
		t.Errorf("Jobs() = %d while the canary and the job run, want 2", n)
	}
	r.runner.exit(taskID(canary, 1), 0)
	r.runner.exit(taskID(next, 1), 0)
	if ev, _ := r.terminal(t, canary); ev.Outcome != schemas.OutcomeSucceeded {
		t.Fatalf("canary ended %+v", ev)
	}
	r.terminal(t, next)
}

// TestCanaryFailuresAreNotDeadLettered: a canary whose task definition is
// missing ends could not start with task_definition_missing; one that
// exits non-zero ends failed; neither is dead-lettered nor retried.
func TestCanaryFailuresAreNotDeadLettered(t *testing.T) {
	r := newRig(t)
	const missing, failing = "01JD3Q8Z5W6X7Y8Z9A0B1C2D7A", "01JD3Q8Z5W6X7Y8Z9A0B1C2D7B"
	r.runner.fails[taskID(missing, 1)] = fmt.Errorf("RunTask: %w: %w: ClientException: unable to find task definition", runner.ErrInvalidSpec, runner.ErrMissingDefinition)
	r.runner.exits[taskID(failing, 1)] = 3
	r.sendTo(t, r.cancels, canaryOrder(missing, 4))
	r.sendTo(t, r.cancels, canaryOrder(failing, 4))
	if ev, _ := r.terminal(t, missing); ev.Outcome != schemas.OutcomeCouldNotStart || ev.ReasonCode != worker.ReasonTaskDefinitionMissing {
		t.Errorf("missing task definition: %+v, want could_not_start %s", ev, worker.ReasonTaskDefinitionMissing)
	}
	if ev, _ := r.terminal(t, failing); ev.Outcome != schemas.OutcomeFailed || ev.ExitCode == nil || *ev.ExitCode != 3 {
		t.Errorf("failing canary: %+v, want failed with exit code 3", ev)
	}
	if msgs, _ := r.dlq.Receive(context.Background(), queue.ReceiveOptions{Max: 10, Wait: 200 * time.Millisecond}); len(msgs) != 0 {
		t.Errorf("%d dead letters, want none", len(msgs))
	}
	r.runner.mu.Lock()
	defer r.runner.mu.Unlock()
	if n := r.runner.starts[taskID(failing, 2)]; n != 0 {
		t.Errorf("a failed canary was retried")
	}
}

// TestRunOrderInTheCancelQueueIsDeadLettered: only canaries' orders may
// bypass the lanes; any other run order found in the cancel queue is
// dead-lettered with its reason, and runs nothing.
func TestRunOrderInTheCancelQueueIsDeadLettered(t *testing.T) {
	r := newRig(t)
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D8A"
	r.sendTo(t, r.cancels, order(job))
	msgs, err := r.dlq.Receive(context.Background(), queue.ReceiveOptions{Max: 10, Wait: 10 * time.Second})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("dead letters %d (%v), want 1", len(msgs), err)
	}
	dl, err := schemas.DecodeDeadLetter(msgs[0].Body)
	if err != nil || dl.Failure.ReasonCode != "malformed_run_order" {
		t.Errorf("dead letter %+v (%v), want malformed_run_order", dl, err)
	}
	r.runner.mu.Lock()
	defer r.runner.mu.Unlock()
	if len(r.runner.tasks) != 0 {
		t.Errorf("%d tasks started", len(r.runner.tasks))
	}
}
