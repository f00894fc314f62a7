package gatekeeper_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/stream/sqlitestream"
	"github.com/deployerhq/deployer/schemas"
)

const describeRequest = "01JD3Q8Z5W6X7Y8Z9A0B1C2D5B"

// describe sends a describe request from sender and returns the answer on
// its reply stream.
func (h *harness) describe(t *testing.T, sender string, body []byte) []schemas.JobEvent {
	t.Helper()
	ctx := context.Background()
	if _, err := h.streams.Create(ctx, describeRequest, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := h.g.Handle(ctx, queue.Message{ID: "d-" + sender, Body: body, SenderID: sender}); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	sub, err := h.streams.Subscribe(ctx, sqlitestream.Address(describeRequest))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	evs, err := sub.Next(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A fresh reply stream for the next request.
	if err := h.streams.Delete(ctx, sqlitestream.Address(describeRequest)); err != nil {
		t.Fatal(err)
	}
	return evs
}

func describeBody(t *testing.T) []byte {
	t.Helper()
	b, err := schemas.DescribeRequest{RequestID: describeRequest, ReplyStream: sqlitestream.Address(describeRequest), SubmittedAt: time.Now()}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A caller learns what it may run, and nothing about what it may not.
func TestDescribeAnswersWithWhatTheCallerMayRun(t *testing.T) {
	h := cancelHarness(t)
	evs := h.describe(t, ciSender, describeBody(t))
	if len(evs) != 1 || evs[0].Type != schemas.EventDescribed || evs[0].JobID != describeRequest || len(evs[0].Containers) == 0 {
		t.Fatalf("answer %+v", evs)
	}
	if !slices.Equal(evs[0].Features, []string{schemas.FeatureCanary}) {
		t.Errorf("features %q: the answer does not offer canaries", evs[0].Features)
	}
	evs = h.describe(t, malloryID, describeBody(t))
	if len(evs) != 1 || evs[0].Type != schemas.EventDescribed || len(evs[0].Containers) != 0 || evs[0].Principal == "" {
		t.Fatalf("mallory's answer %+v, want an empty list", evs)
	}
}

func TestDescribeFromAnUnknownSenderIsRejected(t *testing.T) {
	h := cancelHarness(t)
	evs := h.describe(t, "AIDANOBODY", describeBody(t))
	if len(evs) != 1 || evs[0].Type != schemas.EventRejected || evs[0].ReasonCode != "caller_unknown" {
		t.Fatalf("answer %+v, want caller_unknown", evs)
	}
}

func TestUnreadableDescribeRequestsAreAnsweredAndDeadLettered(t *testing.T) {
	h := cancelHarness(t)
	v2 := strings.Replace(string(describeBody(t)), schemas.DescribeRequestV1, "describe_request/v2", 1)
	evs := h.describe(t, ciSender, []byte(v2))
	if len(evs) != 1 || evs[0].Type != schemas.EventRejected || evs[0].ReasonCode != "unsupported_schema" {
		t.Fatalf("answer %+v", evs)
	}
	dls, err := h.dlq.Receive(context.Background(), queue.ReceiveOptions{Max: 10})
	if err != nil || len(dls) != 1 {
		t.Fatalf("dead letters: %d (%v), want 1", len(dls), err)
	}
}
