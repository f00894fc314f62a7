package gatekeeper_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/stream/sqlitestream"
	"github.com/deployerhq/deployer/schemas"
)

// A swap of the live policy decides the very next request, and every
// decision carries the digest of the policy it was made under.
func TestLivePolicyDecidesTheNextRequestAndLabelsIt(t *testing.T) {
	h := cancelHarness(t)
	oldP, err := policy.Parse([]byte(testPolicy), "")
	if err != nil {
		t.Fatal(err)
	}
	newP, err := policy.Parse([]byte(strings.Replace(testPolicy, "plan:", "apply:", 1)), "")
	if err != nil {
		t.Fatal(err)
	}
	live := policy.NewLive(oldP)
	h.g.Policy = live

	send := func(job string) schemas.JobEvent {
		t.Helper()
		if _, err := h.streams.Create(context.Background(), job, time.Hour); err != nil {
			t.Fatal(err)
		}
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
		evs := h.events(t, job)
		if len(evs) == 0 {
			t.Fatalf("job %s: no events", job)
		}
		return evs[0]
	}
	if ev := send("01JD3Q8Z5W6X7Y8Z9A0B1C2D6A"); ev.Type != schemas.EventAccepted || ev.PolicyDigest != oldP.Digest() {
		t.Fatalf("under the old policy: %s with digest %q, want accepted with %s", ev.Type, ev.PolicyDigest, oldP.Digest())
	}
	live.Store(newP)
	if ev := send("01JD3Q8Z5W6X7Y8Z9A0B1C2D6B"); ev.Type != schemas.EventRejected || ev.PolicyDigest != newP.Digest() {
		t.Fatalf("under the new policy: %s with digest %q, want rejected with %s", ev.Type, ev.PolicyDigest, newP.Digest())
	}
	evs := h.describe(t, ciSender, describeBody(t))
	if len(evs) != 1 || evs[0].PolicyDigest != newP.Digest() || evs[0].Containers[0].Scripts[0].Name != "apply" {
		t.Fatalf("describe answer %+v, want the new policy %s", evs, newP.Digest())
	}
}
