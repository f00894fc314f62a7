package gatekeeper_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/stream/sqlitestream"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/schemas"
)

const (
	ciSender      = "AROAIDEXAMPLE123:ci-session"
	malloryID     = "AIDAMALLORY"
	alice         = "arn:aws:iam::123456789012:user/alice"
	aliceID       = "AIDAALICE"
	cancelJob     = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"
	unknownJob    = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3Z"
	cancelRequest = "01JD3Q8Z5W6X7Y8Z9A0B1C2D4A"
)

// cancelHarness knows two more callers than the CI role: mallory, who
// may run nothing, and alice, who may run nothing either but submitted
// a job before the policy changed.
func cancelHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, "")
	ci := h.g.Identify
	h.g.Identify = func(ctx context.Context, sender string) (schemas.Identity, error) {
		switch sender {
		case malloryID:
			return schemas.Identity{Principal: "arn:aws:iam::123456789012:user/mallory", Source: "sqs_sender_id"}, nil
		case aliceID:
			return schemas.Identity{Principal: alice, Source: "sqs_sender_id"}, nil
		}
		return ci(ctx, sender)
	}
	return h
}

// accept runs a job request from the CI role through the gatekeeper and
// takes its run order off the run queue.
func (h *harness) accept(t *testing.T, job string) {
	t.Helper()
	body, err := schemas.JobRequest{
		JobID: job, Container: "terraform-planner", Script: "plan", Args: schemas.ArgList("--ref", "main"),
		Stream: sqlitestream.Address(job), Attempt: 1, SubmittedAt: time.Now(),
	}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.g.Handle(context.Background(), queue.Message{ID: "m-" + job, Body: body, SenderID: ciSender}); err != nil {
		t.Fatal(err)
	}
	msgs, err := h.runs.Receive(context.Background(), queue.ReceiveOptions{Max: 10})
	if err != nil || len(msgs) != 1 || schemas.SchemaName(msgs[0].Body) != "run_order" {
		t.Fatalf("run queue after accepting %s: %d messages (%v)", job, len(msgs), err)
	}
	if err := h.runs.Delete(context.Background(), msgs[0].Receipt); err != nil {
		t.Fatal(err)
	}
}

// cancel sends a cancel request body from sender and returns the answer
// on its reply stream.
func (h *harness) cancel(t *testing.T, sender string, body []byte) schemas.JobEvent {
	t.Helper()
	ctx := context.Background()
	if err := h.g.Handle(ctx, queue.Message{ID: "c-" + sender, Body: body, SenderID: sender}); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	sub, err := h.streams.Subscribe(ctx, sqlitestream.Address(cancelRequest))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	evs, err := sub.Next(ctx, 0)
	if err != nil || len(evs) != 1 {
		t.Fatalf("reply stream holds %d events (%v), want 1: %+v", len(evs), err, evs)
	}
	// A fresh reply stream for the next request.
	if err := h.streams.Delete(ctx, sqlitestream.Address(cancelRequest)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.streams.Create(ctx, cancelRequest, time.Hour); err != nil {
		t.Fatal(err)
	}
	return evs[0]
}

func cancelBody(t *testing.T, job, reason string) []byte {
	t.Helper()
	b, err := schemas.CancelRequest{RequestID: cancelRequest, JobID: job, Reason: reason,
		ReplyStream: sqlitestream.Address(cancelRequest), SubmittedAt: time.Now()}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (h *harness) cancelOrders(t *testing.T) []schemas.CancelOrder {
	t.Helper()
	msgs, err := h.runs.Receive(context.Background(), queue.ReceiveOptions{Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	var out []schemas.CancelOrder
	for _, m := range msgs {
		o, err := schemas.DecodeCancelOrder(m.Body)
		if err != nil {
			t.Fatalf("run queue holds %s: %v", m.Body, err)
		}
		out = append(out, o)
	}
	return out
}

func (h *harness) cancelRequested(t *testing.T, job string) []schemas.JobEvent {
	t.Helper()
	history, err := h.g.Journal.Read(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	var out []schemas.JobEvent
	for _, ev := range history {
		if ev.Type == schemas.EventCancelRequested {
			out = append(out, ev)
		}
	}
	return out
}

func TestCancelByAnAllowedCallerIsJournaledAndForwarded(t *testing.T) {
	h := cancelHarness(t)
	if _, err := h.streams.Create(context.Background(), cancelRequest, time.Hour); err != nil {
		t.Fatal(err)
	}
	h.accept(t, cancelJob)
	var lanes []string
	h.g.RunQueue = func(_ context.Context, lane string) (queue.Queue, error) {
		lanes = append(lanes, lane)
		return h.runs, nil
	}
	ev := h.cancel(t, ciSender, cancelBody(t, cancelJob, "wrong ref"))
	if ev.Type != schemas.EventCancelAccepted || ev.JobID != cancelRequest || !strings.Contains(ev.Reason, cancelJob) {
		t.Fatalf("answer %+v, want cancel_accepted", ev)
	}
	recs := h.cancelRequested(t, cancelJob)
	if len(recs) != 1 || recs[0].Principal != principals["AROAIDEXAMPLE123"] || recs[0].Reason != "wrong ref" {
		t.Fatalf("journaled cancel_requested %+v", recs)
	}
	orders := h.cancelOrders(t)
	if len(orders) != 1 || orders[0].JobID != cancelJob || orders[0].Caller.Principal != principals["AROAIDEXAMPLE123"] ||
		orders[0].Lane != "default" || orders[0].Reason != "wrong ref" {
		t.Fatalf("cancel orders %+v", orders)
	}
	if len(lanes) != 1 || lanes[0] != topology.CancelLane {
		t.Errorf("cancel order went to lanes %v, want the cancel queue %q", lanes, topology.CancelLane)
	}
	// Nothing terminal reached the job's own stream: only the worker ends it.
	for _, e := range h.events(t, cancelJob) {
		if e.Type.Terminal() {
			t.Errorf("the gatekeeper ended the job: %+v", e)
		}
	}
}

func TestCancelRejections(t *testing.T) {
	h := cancelHarness(t)
	ctx := context.Background()
	if _, err := h.streams.Create(ctx, cancelRequest, time.Hour); err != nil {
		t.Fatal(err)
	}
	h.accept(t, cancelJob)

	ev := h.cancel(t, malloryID, cancelBody(t, cancelJob, ""))
	if ev.Type != schemas.EventCancelRejected || ev.ReasonCode != gatekeeper.ReasonCancelNotAllowed || !strings.Contains(ev.Reason, "mallory") {
		t.Errorf("cancel by a caller who may not run the job: %+v", ev)
	}
	if ev := h.cancel(t, "AIDANOBODY", cancelBody(t, cancelJob, "")); ev.ReasonCode != gatekeeper.ReasonNoIdentity {
		t.Errorf("cancel by an unverifiable caller: %+v", ev)
	}
	if ev := h.cancel(t, ciSender, cancelBody(t, unknownJob, "")); ev.Type != schemas.EventCancelRejected || ev.ReasonCode != gatekeeper.ReasonUnknownJob {
		t.Errorf("cancel of an unknown job: %+v", ev)
	}
	if recs := h.cancelRequested(t, cancelJob); len(recs) != 0 {
		t.Errorf("rejected cancels were journaled: %+v", recs)
	}
	if orders := h.cancelOrders(t); len(orders) != 0 {
		t.Errorf("rejected cancels sent orders: %+v", orders)
	}

	// A finished job cannot be cancelled.
	exit := 0
	if err := h.g.Journal.Append(ctx, cancelJob, schemas.JobEvent{
		Schema: schemas.JobEventV1, JobID: cancelJob, ID: "worker:1:finished", Time: time.Now(), Type: schemas.EventFinished,
		Attempt: 1, Outcome: schemas.OutcomeSucceeded, ExitCode: &exit,
	}); err != nil {
		t.Fatal(err)
	}
	if ev := h.cancel(t, ciSender, cancelBody(t, cancelJob, "")); ev.ReasonCode != gatekeeper.ReasonAlreadyFinished {
		t.Errorf("cancel of a finished job: %+v", ev)
	}
}

func TestCancelByTheJobsOwnRequester(t *testing.T) {
	h := cancelHarness(t)
	ctx := context.Background()
	if _, err := h.streams.Create(ctx, cancelRequest, time.Hour); err != nil {
		t.Fatal(err)
	}
	// alice submitted the job under an older policy that let her.
	if err := h.g.Journal.Append(ctx, cancelJob, schemas.JobEvent{
		Schema: schemas.JobEventV1, JobID: cancelJob, ID: "gatekeeper:1:accepted", Time: time.Now(), Type: schemas.EventAccepted,
		Attempt: 1, Container: "terraform-planner", Script: "plan", Lane: "default", Principal: alice,
	}); err != nil {
		t.Fatal(err)
	}
	if ev := h.cancel(t, aliceID, cancelBody(t, cancelJob, "")); ev.Type != schemas.EventCancelAccepted {
		t.Fatalf("cancel by the requester: %+v", ev)
	}
	if ev := h.cancel(t, malloryID, cancelBody(t, cancelJob, "")); ev.Type != schemas.EventCancelRejected {
		t.Fatalf("cancel by someone else: %+v", ev)
	}
}

func TestUnreadableCancelRequestsAreAnsweredAndDeadLettered(t *testing.T) {
	h := cancelHarness(t)
	if _, err := h.streams.Create(context.Background(), cancelRequest, time.Hour); err != nil {
		t.Fatal(err)
	}
	h.accept(t, cancelJob)
	v2 := strings.Replace(string(cancelBody(t, cancelJob, "")), schemas.CancelRequestV1, "cancel_request/v2", 1)
	if ev := h.cancel(t, ciSender, []byte(v2)); ev.Type != schemas.EventCancelRejected || ev.ReasonCode != gatekeeper.ReasonUnsupportedSchema {
		t.Errorf("cancel_request/v2: %+v", ev)
	}
	bad := cancelBody(t, cancelJob, strings.Repeat("x", schemas.MaxCancelReason+1))
	if ev := h.cancel(t, ciSender, bad); ev.Type != schemas.EventCancelRejected || ev.ReasonCode != gatekeeper.ReasonMalformed {
		t.Errorf("cancel request with an over-long reason: %+v", ev)
	}
	dls, err := h.dlq.Receive(context.Background(), queue.ReceiveOptions{Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]bool{}
	for _, m := range dls {
		dl, err := schemas.DecodeDeadLetter(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		codes[dl.Failure.ReasonCode] = dl.JobID == cancelJob && strings.Contains(dl.Raw, "cancel_request")
	}
	if len(dls) != 2 || !codes[gatekeeper.ReasonUnsupportedSchema] || !codes[gatekeeper.ReasonMalformed] {
		t.Errorf("dead letters %v, want unsupported_schema and malformed_request naming the job", codes)
	}
	if recs := h.cancelRequested(t, cancelJob); len(recs) != 0 {
		t.Errorf("unreadable cancels were journaled: %+v", recs)
	}
	// One without a reply stream is only dead-lettered.
	if err := h.g.Handle(context.Background(), queue.Message{ID: "x", Body: []byte(`{"schema":"cancel_request/v1","job_id":"nope"}`), SenderID: ciSender}); err != nil {
		t.Fatal(err)
	}
	if dls, err := h.dlq.Receive(context.Background(), queue.ReceiveOptions{Max: 10}); err != nil || len(dls) != 1 {
		t.Errorf("dead letters of a cancel request without a reply stream: %d (%v)", len(dls), err)
	}
}
