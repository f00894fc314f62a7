package gatekeeper_test

import (
	"context"
	"testing"
	"time"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/stream/sqlitestream"
	"github.com/deployerhq/deployer/schemas"
)

const (
	batchID     = "batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D5A"
	batchJob1   = "01JD3Q8Z5W6X7Y8Z9A0B1C2D5B"
	batchJob2   = "01JD3Q8Z5W6X7Y8Z9A0B1C2D5C"
	batchJobMal = "01JD3Q8Z5W6X7Y8Z9A0B1C2D5D"
)

func batchRequest(t *testing.T, job, container string, index int) []byte {
	t.Helper()
	b, err := schemas.JobRequest{
		JobID: job, Container: container, Script: "plan", Args: schemas.ArgList("--ref", "main"),
		Stream: sqlitestream.Address(job), Attempt: 1, SubmittedAt: time.Now(),
		BatchID: batchID, Batch: &schemas.BatchSpec{Name: "nightly", Size: 3, Index: index, MaxInFlight: 1, FailFast: true},
	}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A batch's journal gathers the decisions on its jobs, each under an id
// of its job, so that one read follows the batch: its accepted and
// rejected jobs alike, with what they will run and the batch's spec.
func TestBatchJobsAreJournaledInTheirBatch(t *testing.T) {
	h := cancelHarness(t)
	ctx := context.Background()
	for i, m := range []queue.Message{
		{ID: "1", Body: batchRequest(t, batchJob1, "terraform-planner", 1), SenderID: ciSender},
		{ID: "2", Body: batchRequest(t, batchJob2, "no-such-container", 2), SenderID: ciSender},
	} {
		if err := h.g.Handle(ctx, m); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	evs, err := h.g.Journal.Read(ctx, batchID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]schemas.JobEvent{}
	for _, ev := range evs {
		if ev.BatchID != batchID {
			t.Errorf("event %s of the batch's journal names batch %q", ev.ID, ev.BatchID)
		}
		got[ev.ID] = ev
	}
	acc, ok := got[journal.BatchEventID(batchJob1, "gatekeeper:1:accepted")]
	if !ok || acc.JobID != batchJob1 || acc.Batch == nil || acc.Batch.Index != 1 || acc.Lane == "" || acc.LaneLimit < 1 || acc.Principal == "" {
		t.Errorf("accepted event in the batch's journal: %+v (found %v)", acc, ok)
	}
	if _, ok := got[journal.BatchEventID(batchJob1, "gatekeeper:1:queued")]; !ok {
		t.Errorf("no queued event of job 1 in the batch's journal: %v", evs)
	}
	rej, ok := got[journal.BatchEventID(batchJob2, "gatekeeper:1:rejected")]
	if !ok || rej.Outcome != schemas.OutcomeRejected || rej.Batch == nil || rej.Batch.Index != 2 {
		t.Errorf("rejected event in the batch's journal: %+v (found %v)", rej, ok)
	}
	if !schemas.BatchFailed(rej) {
		t.Error("a rejection does not count as a failure of its batch")
	}
}

// A batch belongs to whoever first put a job in it. Another caller's job
// naming it is rejected on its own, and the batch's journal never hears
// of it: it could otherwise end the batch (fail_fast) or pose as its part.
func TestAnotherCallersBatchCannotBeJoined(t *testing.T) {
	h := cancelHarness(t)
	ctx := context.Background()
	if err := h.g.Handle(ctx, queue.Message{ID: "1", Body: batchRequest(t, batchJob1, "terraform-planner", 1), SenderID: ciSender}); err != nil {
		t.Fatal(err)
	}
	before, err := h.g.Journal.Read(ctx, batchID)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.g.Handle(ctx, queue.Message{ID: "2", Body: batchRequest(t, batchJobMal, "terraform-planner", 2), SenderID: malloryID}); err != nil {
		t.Fatal(err)
	}
	after, err := h.g.Journal.Read(ctx, batchID)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("the batch's journal got %d events of another caller's job: %+v", len(after)-len(before), after[len(before):])
	}
	evs, err := h.g.Journal.Read(ctx, batchJobMal)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].ReasonCode != gatekeeper.ReasonBatchIDTaken || evs[0].BatchID != "" {
		t.Fatalf("the intruder's job's journal has %+v, want one rejection %s outside the batch", evs, gatekeeper.ReasonBatchIDTaken)
	}
}
