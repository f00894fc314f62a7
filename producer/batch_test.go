package producer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

const testBatch = "batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D5A"

// batchEvents builds a batch's journal: for each job (by position), its
// accepted event and the steps given, each a second after the last.
func batchEvents(size int, jobs map[int][]schemas.JobEvent) []schemas.JobEvent {
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	var out []schemas.JobEvent
	for i := 1; i <= size; i++ {
		steps, ok := jobs[i]
		if !ok {
			continue
		}
		id := fmt.Sprintf("01JD3Q8Z5W6X7Y8Z9A0B1C2D%02d", i)
		spec := &schemas.BatchSpec{Name: "nightly", Size: size, Index: i, Key: fmt.Sprintf("n=%d", i), MaxInFlight: 2, FailFast: true}
		acc := schemas.JobEvent{JobID: id, ID: "gatekeeper:1:accepted", Type: schemas.EventAccepted, Attempt: 1,
			Container: "c", Script: "s", Lane: "ami", Principal: "user:ci", Batch: spec}
		for _, ev := range append([]schemas.JobEvent{acc}, steps...) {
			ev.JobID, ev.BatchID, ev.Time = id, testBatch, at
			if ev.Attempt == 0 {
				ev.Attempt = 1
			}
			ev.ID = journal.BatchEventID(id, ev.ID)
			out = append(out, ev)
			at = at.Add(time.Second)
		}
	}
	return out
}

func started() schemas.JobEvent {
	return schemas.JobEvent{ID: "worker:1:started", Type: schemas.EventStarted, TaskID: "t"}
}

func ended(outcome schemas.Outcome, code int) schemas.JobEvent {
	t := schemas.EventFinished
	switch outcome {
	case schemas.OutcomeCancelled:
		t = schemas.EventCancelled
	case schemas.OutcomeRejected:
		t = schemas.EventRejected
	case schemas.OutcomeTimedOut, schemas.OutcomeLost, schemas.OutcomeCouldNotStart:
		t = schemas.EventFailed
	}
	return schemas.JobEvent{ID: "end", Type: t, Outcome: outcome, ExitCode: &code}
}

// A batch is read by position from its journal: the jobs the journal has
// no word of yet are unknown, and the batch has not ended until every
// position has.
func TestBatchFromEvents(t *testing.T) {
	b := producer.BatchFromEvents(testBatch, batchEvents(3, map[int][]schemas.JobEvent{
		1: {started(), ended(schemas.OutcomeSucceeded, 0)},
		3: {{ID: "gatekeeper:1:queued", Type: schemas.EventQueued, Reason: "waiting for room"}},
	}))
	if b.Name != "nightly" || b.MaxInFlight != 2 || !b.FailFast || b.Principal != "user:ci" || len(b.Jobs) != 3 {
		t.Fatalf("batch %+v", b)
	}
	want := []producer.JobState{producer.StateSucceeded, producer.StateUnknown, producer.StateQueued}
	for i, j := range b.Jobs {
		if j.Index != i+1 || j.State != want[i] {
			t.Errorf("job %d: index %d, state %s; want %d, %s", i+1, j.Index, j.State, i+1, want[i])
		}
	}
	if b.Jobs[2].Reason != "waiting for room" || b.Jobs[0].Key != "n=1" || b.Jobs[0].Terminal == nil {
		t.Errorf("jobs %+v", b.Jobs)
	}
	if b.Ended() {
		t.Error("a batch with an unknown and a queued job has ended")
	}
}

// Events that do not belong (another batch's, a position past the size,
// a job id that is not one) place nothing.
func TestBatchFromEventsIgnoresWhatDoesNotBelong(t *testing.T) {
	evs := batchEvents(2, map[int][]schemas.JobEvent{1: {ended(schemas.OutcomeSucceeded, 0)}, 2: {ended(schemas.OutcomeSucceeded, 0)}})
	stray := evs[0]
	stray.BatchID = "batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D5B"
	stray.JobID = "01JD3Q8Z5W6X7Y8Z9A0B1C2D99"
	past := evs[0]
	past.JobID = "01JD3Q8Z5W6X7Y8Z9A0B1C2D98"
	past.Batch = &schemas.BatchSpec{Name: "nightly", Size: 2, Index: 7}
	bad := evs[0]
	bad.JobID = "../../etc"
	b := producer.BatchFromEvents(testBatch, append(evs, stray, past, bad))
	if len(b.Jobs) != 2 || !b.Ended() || b.ExitCode() != 0 {
		t.Fatalf("jobs %+v", b.Jobs)
	}
	for _, j := range b.Jobs {
		if j.JobID == stray.JobID || j.JobID == past.JobID {
			t.Errorf("job %s placed at %d", j.JobID, j.Index)
		}
	}
}

// The exit code of an ended batch: 0 when all succeeded; else that of the
// first job to fail, by end time, whatever its position, leaving
// cancelled jobs aside; 130 when jobs were cancelled and none failed.
func TestBatchExitCode(t *testing.T) {
	for _, c := range []struct {
		name string
		jobs map[int][]schemas.JobEvent
		want int
	}{
		{"all succeeded", map[int][]schemas.JobEvent{1: {ended(schemas.OutcomeSucceeded, 0)}, 2: {ended(schemas.OutcomeSucceeded, 0)}}, 0},
		// Job 2 ends (events are a second apart, in position order) before
		// job 3; job 1, cancelled by fail_fast, is left aside.
		{"first failure by end time", map[int][]schemas.JobEvent{
			1: {started(), ended(schemas.OutcomeCancelled, 143)},
			2: {ended(schemas.OutcomeFailed, 2)},
			3: {ended(schemas.OutcomeFailed, 9)},
		}, 2},
		{"rejected", map[int][]schemas.JobEvent{1: {ended(schemas.OutcomeRejected, 0)}, 2: {ended(schemas.OutcomeSucceeded, 0)}}, producer.ExitRejected},
		{"timed out", map[int][]schemas.JobEvent{1: {ended(schemas.OutcomeTimedOut, 0)}}, producer.ExitTimedOut},
		{"only cancelled", map[int][]schemas.JobEvent{1: {ended(schemas.OutcomeCancelled, 0)}, 2: {ended(schemas.OutcomeSucceeded, 0)}}, producer.ExitCancelled},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := len(c.jobs)
			b := producer.BatchFromEvents(testBatch, batchEvents(n, c.jobs))
			if !b.Ended() {
				t.Fatalf("not ended: %+v", b.Jobs)
			}
			if got := b.ExitCode(); got != c.want {
				t.Errorf("exit code %d, want %d", got, c.want)
			}
		})
	}
}
