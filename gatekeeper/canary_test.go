package gatekeeper_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/stream/sqlitestream"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/schemas"
)

const canaryJob = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3F"

// canaryHarness routes each lane's run queue apart: the lanes' own and
// the cancel queue, which every worker reads whatever room it has.
type canaryHarness struct {
	*harness
	lanes  map[string]queue.Queue
	denied string // a lane whose run queue refuses every message
}

func newCanaryHarness(t *testing.T) *canaryHarness {
	t.Helper()
	h := &canaryHarness{harness: cancelHarness(t), lanes: map[string]queue.Queue{"default": nil}}
	var err error
	if h.lanes[topology.CancelLane], err = h.broker.Create(context.Background(), topology.CancelQueue, queue.Config{}); err != nil {
		t.Fatal(err)
	}
	h.lanes["default"] = h.runs
	h.g.RunQueue = func(_ context.Context, lane string) (queue.Queue, error) {
		q, ok := h.lanes[lane]
		if !ok {
			return nil, errors.New("no lane " + lane)
		}
		if lane == h.denied {
			return refusing{q}, nil
		}
		return q, nil
	}
	return h
}

// refusing is a run queue whose sends are denied, as SQS denies a role
// without sqs:SendMessage.
type refusing struct{ queue.Queue }

func (refusing) Send(context.Context, ...queue.Outgoing) ([]string, error) {
	return nil, errors.New("AccessDenied: not authorized to perform sqs:SendMessage")
}

func canaryBody(t *testing.T, job string, change func(*schemas.JobRequest)) []byte {
	t.Helper()
	r := schemas.JobRequest{JobID: job, Container: "terraform-planner", Canary: true,
		Stream: sqlitestream.Address(job), Attempt: 1, SubmittedAt: time.Now()}
	if change != nil {
		change(&r)
	}
	b, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// orders takes what a run queue holds.
func orders(t *testing.T, q queue.Queue) []schemas.RunOrder {
	t.Helper()
	msgs, err := q.Receive(context.Background(), queue.ReceiveOptions{Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	var out []schemas.RunOrder
	for _, m := range msgs {
		o, err := schemas.DecodeRunOrder(m.Body)
		if err != nil {
			t.Fatalf("run queue %s holds %s: %v", q.Name(), m.Body, err)
		}
		out = append(out, o)
	}
	return out
}

func (h *canaryHarness) journal(t *testing.T, job string) []schemas.JobEvent {
	t.Helper()
	history, err := h.g.Journal.Read(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	return history
}

// An allowed canary is accepted as a canary and forwarded to its lane's
// run queue (proving the gatekeeper may send there) and to the cancel
// queue (so that a full lane does not hold it up), as one order.
func TestCanaryIsForwardedToItsLaneAndTheCancelQueue(t *testing.T) {
	h := newCanaryHarness(t)
	if err := h.g.Handle(context.Background(), queue.Message{ID: "m1", Body: canaryBody(t, canaryJob, nil), SenderID: ciSender}); err != nil {
		t.Fatal(err)
	}
	lane, bypass := orders(t, h.lanes["default"]), orders(t, h.lanes[topology.CancelLane])
	if len(lane) != 1 || len(bypass) != 1 {
		t.Fatalf("lane queue holds %d orders, cancel queue %d; want one each", len(lane), len(bypass))
	}
	o := lane[0]
	if !o.Canary || o.Script != "" || o.JobID != canaryJob || o.Lane != "default" || len(o.DeadLetterOn) != 0 || o.Image != "terraform:1.9" {
		t.Errorf("order %+v, want the planner's canary", o)
	}
	if bypass[0].JobID != o.JobID || !bypass[0].Canary {
		t.Errorf("the cancel queue's copy %+v is not the same canary", bypass[0])
	}
	var accepted, queued bool
	for _, ev := range h.journal(t, canaryJob) {
		switch ev.Type {
		case schemas.EventAccepted:
			accepted = ev.Canary && ev.Container == "terraform-planner" && ev.Script == ""
		case schemas.EventQueued:
			queued = strings.Contains(ev.Reason, "no slot of lane default")
		}
	}
	if !accepted || !queued {
		t.Errorf("journal %+v: want a canary's accepted and queued events", h.journal(t, canaryJob))
	}
}

// A caller who may run no script of the container is refused its canary,
// as any request, and nothing is forwarded.
func TestCanaryOfACallerAllowedNothingIsRejected(t *testing.T) {
	h := newCanaryHarness(t)
	if err := h.g.Handle(context.Background(), queue.Message{ID: "m1", Body: canaryBody(t, canaryJob, nil), SenderID: malloryID}); err != nil {
		t.Fatal(err)
	}
	history := h.journal(t, canaryJob)
	if len(history) != 1 || history[0].Type != schemas.EventRejected || history[0].ReasonCode != "caller_not_allowed" || !history[0].Canary {
		t.Fatalf("journal %+v, want one rejection of a canary, caller_not_allowed", history)
	}
	if n := len(orders(t, h.lanes["default"])) + len(orders(t, h.lanes[topology.CancelLane])); n != 0 {
		t.Errorf("%d orders forwarded for a rejected canary", n)
	}
}

// A canary request that names a script is not a canary the gatekeeper
// guesses at: it is refused as unreadable, answered on its stream and
// dead-lettered, like any malformed request.
func TestCanaryWithAScriptIsMalformed(t *testing.T) {
	h := newCanaryHarness(t)
	body := canaryBody(t, canaryJob, func(r *schemas.JobRequest) { r.Script = "plan" })
	if err := h.g.Handle(context.Background(), queue.Message{ID: "m1", Body: body, SenderID: ciSender}); err != nil {
		t.Fatal(err)
	}
	if n := len(orders(t, h.lanes["default"])); n != 0 {
		t.Errorf("%d orders forwarded for a malformed canary", n)
	}
	msgs, err := h.dlq.Receive(context.Background(), queue.ReceiveOptions{Max: 10})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("request dead-letter queue holds %d messages (%v), want 1", len(msgs), err)
	}
}

// A canary the gatekeeper may not forward ends at once, could not start,
// saying which queue refused it: not retried, not dead-lettered.
func TestCanaryThatCannotBeForwardedEndsAtOnce(t *testing.T) {
	h := newCanaryHarness(t)
	h.denied = "default"
	if err := h.g.Handle(context.Background(), queue.Message{ID: "m1", Body: canaryBody(t, canaryJob, nil), SenderID: ciSender}); err != nil {
		t.Fatalf("Handle = %v, want nil: a canary is never retried", err)
	}
	history := h.journal(t, canaryJob)
	term := history[len(history)-1]
	if term.Type != schemas.EventFailed || term.Outcome != schemas.OutcomeCouldNotStart || term.ReasonCode != gatekeeper.ReasonNotForwarded ||
		!strings.Contains(term.Reason, "runs-lane-default") || !strings.Contains(term.Reason, "AccessDenied") {
		t.Fatalf("journal ends with %+v, want not_forwarded naming the queue and the error", term)
	}
	if n := len(orders(t, h.lanes[topology.CancelLane])); n != 0 {
		t.Errorf("the cancel queue holds %d copies of a canary its lane refused", n)
	}
	if msgs, _ := h.dlq.Receive(context.Background(), queue.ReceiveOptions{Max: 10}); len(msgs) != 0 {
		t.Errorf("a canary was dead-lettered")
	}
}
