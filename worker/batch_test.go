package worker_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployerhq/deployer/schemas"
)

// batchOrder is a run order of a batch of size jobs that runs at most
// maxInFlight at once.
func batchOrder(job string, index, size, maxInFlight int, failFast bool) schemas.RunOrder {
	o := order(job)
	o.Request.BatchID = "batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D5A"
	o.Request.Batch = &schemas.BatchSpec{Name: "b", Size: size, Index: index, MaxInFlight: maxInFlight, FailFast: failFast}
	return o
}

// A run order whose batch is full is parked, not received again and
// again: it is received once, kept hidden by heartbeats past its
// visibility timeout, and started once its batch has room, oldest first.
func TestBatchFullParksTheOrderWithoutReceivingItAgain(t *testing.T) {
	r := newRig(t)
	jobs := []string{"01JD3Q8Z5W6X7Y8Z9A0B1C2D6A", "01JD3Q8Z5W6X7Y8Z9A0B1C2D6B", "01JD3Q8Z5W6X7Y8Z9A0B1C2D6C"}
	var msgs []string
	for i, j := range jobs {
		msgs = append(msgs, r.sendID(t, batchOrder(j, i+1, len(jobs), 1, false)))
	}
	for i, j := range jobs {
		var id string
		select {
		case id = <-r.runner.started:
		case <-time.After(20 * time.Second):
			t.Fatalf("job %d never started", i+1)
		}
		if id != taskID(j, 1) {
			t.Fatalf("started %s, want job %d (%s): parked jobs start oldest first", id, i+1, j)
		}
		if i == 0 {
			// Keep the first running until the others' visibility
			// timeout (3s; heartbeats every 1s) has passed four times
			// over, as heartbeats tell.
			waitFor(t, "the parked orders kept hidden past their visibility timeout", func() bool {
				for _, m := range msgs[1:] {
					rs := r.broker.receiptsOf(m)
					if len(rs) == 0 || r.broker.extensions(rs[len(rs)-1]) < 4 {
						return false
					}
				}
				return true
			})
		}
		select {
		case other := <-r.runner.started:
			t.Fatalf("%s started while job %d ran in a batch of max_in_flight 1", other, i+1)
		default:
		}
		r.runner.exit(id, 0)
		if end, _ := r.terminal(t, j); end.Outcome != schemas.OutcomeSucceeded {
			t.Fatalf("job %d: %+v", i+1, end)
		}
	}
	for i, m := range msgs {
		if n := len(r.broker.receiptsOf(m)); n != 1 {
			t.Errorf("job %d's order was received %d times, want once", i+1, n)
		}
	}
}

// Parked jobs of a batch start in order even when a slot of the batch
// frees while the worker looks at them: the release comes between the
// refusal of the oldest parked job and the look at the next, which must
// wait its turn rather than take the slot.
func TestBatchParkedJobsKeepTheirOrderWhenASlotFreesMidLook(t *testing.T) {
	r := newRig(t)
	jobs := []string{"01JD3Q8Z5W6X7Y8Z9A0B1C2D8A", "01JD3Q8Z5W6X7Y8Z9A0B1C2D8B", "01JD3Q8Z5W6X7Y8Z9A0B1C2D8C"}
	for i, j := range jobs {
		r.sendID(t, batchOrder(j, i+1, len(jobs), 1, false))
	}
	waitStarted(t, r, taskID(jobs[0], 1))
	// The first refusal of a parked job frees the batch's slot, as the
	// running job's release would at that very moment.
	onNextBatchRefusal(t, r, func() {})
	waitStarted(t, r, taskID(jobs[1], 1))
}

// onNextBatchRefusal has the next refusal of a batch's lease free every
// slot of that batch, as a running job's release at that very moment
// would, then call then.
func onNextBatchRefusal(t *testing.T, r *rig, then func()) {
	t.Helper()
	var once sync.Once
	r.lanes.mu.Lock()
	defer r.lanes.mu.Unlock()
	r.lanes.acquired = func(ln, _ string, got bool) {
		if got || !strings.HasPrefix(ln, "batch/") {
			return
		}
		once.Do(func() {
			ls, err := r.lanes.Leases(context.Background(), ln)
			if err != nil {
				t.Error(err)
				return
			}
			for _, l := range ls {
				_ = r.lanes.Release(context.Background(), ln, l.Holder)
			}
			then()
		})
	}
}

// A run order received while an earlier job of its batch is parked
// waits behind it, even when the batch has a free slot at that moment:
// here the slot frees as the parked job is refused, and the later job
// arrives just after.
func TestBatchLaterOrderDoesNotOvertakeAParkedOne(t *testing.T) {
	r := newRig(t)
	jobs := []string{"01JD3Q8Z5W6X7Y8Z9A0B1C2D9A", "01JD3Q8Z5W6X7Y8Z9A0B1C2D9B", "01JD3Q8Z5W6X7Y8Z9A0B1C2D9C"}
	r.sendID(t, batchOrder(jobs[0], 1, len(jobs), 1, false))
	waitStarted(t, r, taskID(jobs[0], 1))
	second := r.sendID(t, batchOrder(jobs[1], 2, len(jobs), 1, false))
	waitFor(t, "the second order parked", func() bool { return len(r.broker.receiptsOf(second)) > 0 })
	// The next refusal of the parked job frees the batch's slot, and the
	// third job's order comes.
	onNextBatchRefusal(t, r, func() { r.sendID(t, batchOrder(jobs[2], 3, len(jobs), 1, false)) })
	waitStarted(t, r, taskID(jobs[1], 1))
}

// With fail_fast, a failure ends the batch's parked jobs at once,
// cancelled, without their tasks ever starting.
func TestBatchFailFastCancelsParkedOrders(t *testing.T) {
	r := newRig(t)
	jobs := []string{"01JD3Q8Z5W6X7Y8Z9A0B1C2D7A", "01JD3Q8Z5W6X7Y8Z9A0B1C2D7B", "01JD3Q8Z5W6X7Y8Z9A0B1C2D7C"}
	var msgs []string
	for i, j := range jobs {
		msgs = append(msgs, r.sendID(t, batchOrder(j, i+1, len(jobs), 1, true)))
	}
	id := <-r.runner.started
	waitFor(t, "the other orders parked", func() bool {
		for _, m := range msgs {
			if len(r.broker.receiptsOf(m)) == 0 {
				return false
			}
		}
		return true
	})
	r.runner.exit(id, 3)
	for _, j := range jobs {
		end, _ := r.terminal(t, j)
		if taskID(j, 1) == id {
			if end.Outcome != schemas.OutcomeFailed {
				t.Errorf("the failed job: %+v", end)
			}
			continue
		}
		if end.Outcome != schemas.OutcomeCancelled || !strings.Contains(end.Reason, "fail_fast") {
			t.Errorf("job %s: %+v, want cancelled by fail_fast", j, end)
		}
	}
	r.runner.mu.Lock()
	defer r.runner.mu.Unlock()
	if len(r.runner.tasks) != 1 {
		t.Errorf("%d tasks started, want only the failed one", len(r.runner.tasks))
	}
}
