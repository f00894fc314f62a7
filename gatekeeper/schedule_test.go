package gatekeeper_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/schemas"
)

// schedulePolicy lets only the scheduler role (here AROAIDEXAMPLE123's
// ci-deployer, standing in for it) run the schedule's script.
const schedulePolicy = `
containers:
  ami-builder:
    image: packer:1
    allowed_callers: ["arn:aws:iam::123456789012:role/ci-deployer"]
    script_config:
      build: {allowed_options: [--build-name]}
  locked:
    image: packer:1
    allowed_callers: ["arn:aws:iam::123456789012:role/someone-else"]
    script_config:
      build: {}
schedules:
  nightly:
    cron: "0 2 * * *"
    container: ami-builder
    script: build
    args: [--build-name, al2023]
  locked:
    cron: "0 2 * * *"
    container: locked
    script: build
`

func scheduleHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, "")
	pol, err := policy.Parse([]byte(schedulePolicy), "")
	if err != nil {
		t.Fatal(err)
	}
	h.g.Policy = pol
	return h
}

func scheduleMessage(t *testing.T, id, name string) queue.Message {
	t.Helper()
	body, err := schemas.ScheduleRequest{Schedule: name}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return queue.Message{ID: id, Body: body, SenderID: "AROAIDEXAMPLE123:scheduler", SentAt: time.Date(2025, 6, 10, 2, 0, 0, 0, time.UTC)}
}

// A schedule request becomes the configured job, with a job id derived
// from the message (a redelivery is the same job) and a stream the
// gatekeeper made, checked as sent by the scheduler role.
func TestScheduleRequestRunsTheConfiguredJob(t *testing.T) {
	h := scheduleHarness(t)
	ctx := context.Background()
	msg := scheduleMessage(t, "m-1", "nightly")
	for range 2 { // redelivered
		if err := h.g.Handle(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := h.runs.Receive(ctx, queue.ReceiveOptions{Max: 10})
	if err != nil || len(msgs) == 0 {
		t.Fatalf("no run order: %v", err)
	}
	order, err := schemas.DecodeRunOrder(msgs[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	want := gatekeeper.ScheduledJobID("m-1", msg.SentAt)
	if order.Request.JobID != want || order.Request.Container != "ami-builder" ||
		!slices.Equal(order.Argv, []string{"--build-name", "al2023"}) ||
		order.Request.Caller.Schedule != "nightly" || order.Caller.Principal != "arn:aws:iam::123456789012:role/ci-deployer" {
		t.Errorf("run order = %+v", order)
	}
	for _, m := range msgs {
		o, _ := schemas.DecodeRunOrder(m.Body)
		if o.Request.JobID != want {
			t.Errorf("a redelivery made another job %s", o.Request.JobID)
		}
	}
}

// The caller is the sender, never the schedule: a schedule whose
// container does not allow the sender is rejected, and an unknown
// schedule is dead-lettered.
func TestScheduleRequestRejections(t *testing.T) {
	h := scheduleHarness(t)
	ctx := context.Background()
	if err := h.g.Handle(ctx, scheduleMessage(t, "m-2", "locked")); err != nil {
		t.Fatal(err)
	}
	if err := h.g.Handle(ctx, scheduleMessage(t, "m-3", "nope")); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := h.runs.Receive(ctx, queue.ReceiveOptions{Max: 10}); len(msgs) != 0 {
		t.Fatalf("%d run orders, want none", len(msgs))
	}
	if codes := deadLetterCodes(t, h); !slices.Contains(codes, gatekeeper.ReasonUnknownSchedule) {
		t.Errorf("dead letters %v, want %s", codes, gatekeeper.ReasonUnknownSchedule)
	}
}
