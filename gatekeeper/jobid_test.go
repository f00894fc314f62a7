package gatekeeper_test

import (
	"context"
	"testing"
	"time"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/stream/sqlitestream"
	"github.com/deployerhq/deployer/schemas"
)

func deadLetterCodes(t *testing.T, h *harness) []string {
	t.Helper()
	msgs, err := h.dlq.Receive(context.Background(), queue.ReceiveOptions{Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, m := range msgs {
		dl, err := schemas.DecodeDeadLetter(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, dl.Failure.ReasonCode)
	}
	return codes
}

// A job id belongs to whoever used it first. Another caller's request
// naming it — allowed, refused by policy, unidentifiable or unreadable —
// never reaches the job's stream (where it could end the owner's follower
// with a rejection) nor the run queue (where its task could be adopted as
// the owner's).
func TestAnotherCallersJobIDIsRefusedWithoutTouchingItsStream(t *testing.T) {
	h := cancelHarness(t)
	h.accept(t, cancelJob)
	before := len(h.events(t, cancelJob))

	request := func(container string) []byte {
		b, err := schemas.JobRequest{
			JobID: cancelJob, Container: container, Script: "plan", Args: schemas.ArgList("--ref", "main"),
			Stream: sqlitestream.Address(cancelJob), Attempt: 1, SubmittedAt: time.Now(),
		}.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, m := range []queue.Message{
		{ID: "alice", Body: request("terraform-planner"), SenderID: aliceID},       // refused by policy
		{ID: "mallory", Body: request("no-such-container"), SenderID: malloryID},   // refused by policy
		{ID: "nobody", Body: request("terraform-planner"), SenderID: "AIDANOBODY"}, // not identifiable
		{ID: "garbage", Body: []byte(`{"schema":"job_request/v1","job_id":"` + cancelJob + `","stream":"` + sqlitestream.Address(cancelJob) + `"`), SenderID: malloryID},
	} {
		if err := h.g.Handle(context.Background(), m); err != nil {
			t.Fatalf("%s: %v", m.ID, err)
		}
	}
	if after := h.events(t, cancelJob); len(after) != before {
		t.Fatalf("the owner's stream got %d more events: %+v", len(after)-before, after[before:])
	}
	codes := deadLetterCodes(t, h)
	want := map[string]int{gatekeeper.ReasonJobIDTaken: 3, gatekeeper.ReasonMalformed: 1}
	got := map[string]int{}
	for _, c := range codes {
		got[c]++
	}
	if len(codes) != 4 || got[gatekeeper.ReasonJobIDTaken] != want[gatekeeper.ReasonJobIDTaken] || got[gatekeeper.ReasonMalformed] != 1 {
		t.Fatalf("dead letters %v, want %v", got, want)
	}
	if msgs, _ := h.runs.Receive(context.Background(), queue.ReceiveOptions{Max: 10}); len(msgs) != 0 {
		t.Fatalf("%d run orders were forwarded", len(msgs))
	}
	// The owner's own redelivered request is still handled (at-least-once
	// queues deliver twice).
	h.accept(t, cancelJob)
}
