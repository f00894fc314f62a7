package gatekeeper_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/journal/sqlitejournal"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/queue/sqlitequeue"
	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/internal/stream/sqlitestream"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/schemas"
)

const testPolicy = `
containers:
  terraform-planner:
    image: terraform:1.9
    allowed_callers: ["arn:aws:iam::123456789012:role/ci-*"]
    script_config:
      plan:
        allowed_options: [--ref]
        restricted_options: [--destroy]
`

// principals resolves SQS SenderIds the way the AWS deployment does: from
// a configured map of principal ids to ARNs.
var principals = map[string]string{"AROAIDEXAMPLE123": "arn:aws:iam::123456789012:role/ci-deployer"}

type harness struct {
	db      *sql.DB
	g       *gatekeeper.Gatekeeper
	broker  *sqlitequeue.Broker
	streams *sqlitestream.Streams
	runs    queue.Queue
	dlq     queue.Queue
}

func newHarness(t *testing.T, failStream string) *harness {
	t.Helper()
	db, err := sqlitedb.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	broker, err := sqlitequeue.New(db, sqlitequeue.Options{SenderID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	streams, err := sqlitestream.New(db, sqlitestream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	journal, err := sqlitejournal.New(db, sqlitejournal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Parse([]byte(testPolicy), "")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{db: db, streams: streams, broker: broker}
	if h.dlq, err = broker.Create(ctx, topology.RequestDLQ, queue.Config{}); err != nil {
		t.Fatal(err)
	}
	if h.runs, err = broker.Create(ctx, topology.LaneQueue("default"), queue.Config{}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"01JD3Q8Z5W6X7Y8Z9A0B1C2D3E", "01JD3Q8Z5W6X7Y8Z9A0B1C2D3F", "01JD3Q8Z5W6X7Y8Z9A0B1C2D3G", "01JD3Q8Z5W6X7Y8Z9A0B1C2D3H", "01JD3Q8Z5W6X7Y8Z9A0B1C2D3J"} {
		if _, err := streams.Create(ctx, id, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	var s stream.Streams = streams
	if failStream != "" {
		s = failing{Streams: streams, address: failStream}
	}
	h.g = &gatekeeper.Gatekeeper{
		Policy:        pol,
		RunQueue:      func(context.Context, string) (queue.Queue, error) { return h.runs, nil },
		DeadLetters:   h.dlq,
		Streams:       s,
		StreamAddress: sqlitestream.Address,
		Journal:       journal,
		Identify: func(_ context.Context, sender string) (schemas.Identity, error) {
			id, _, _ := strings.Cut(sender, ":")
			arn, ok := principals[id]
			if !ok {
				return schemas.Identity{}, errors.New("sender " + sender + " is not a configured principal")
			}
			return schemas.Identity{Principal: arn, Source: "sqs_sender_id"}, nil
		},
	}
	return h
}

// failing is a stream whose publishes to one address (to every address
// when address is empty) fail with err (transiently, with
// stream.ErrThrottled, when err is nil).
type failing struct {
	stream.Streams
	address string
	err     error
}

func (f failing) Publish(ctx context.Context, address string, evs ...schemas.JobEvent) error {
	if f.address == "" || address == f.address {
		if f.err != nil {
			return f.err
		}
		return stream.ErrThrottled
	}
	return f.Streams.Publish(ctx, address, evs...)
}

func loadEvent(t *testing.T) events.SQSEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "sqs-request-batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// events returns what the job's stream holds.
func (h *harness) events(t *testing.T, jobID string) []schemas.JobEvent {
	t.Helper()
	return streamEvents(t, h.streams, sqlitestream.Address(jobID))
}

// streamEvents returns the events waiting on the stream at address.
func streamEvents(t *testing.T, s stream.Streams, address string) []schemas.JobEvent {
	t.Helper()
	sub, err := s.Subscribe(context.Background(), address)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	evs, err := sub.Next(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestHandleSQSEventCapturedBatch(t *testing.T) {
	h := newHarness(t, "")
	resp, err := h.g.HandleSQSEvent(context.Background(), loadEvent(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch item failures %v; nothing in this batch is transient", resp.BatchItemFailures)
	}

	// Accepted: one run order, accepted and queued on the stream.
	msgs, err := h.runs.Receive(context.Background(), queue.ReceiveOptions{Max: 10})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("run queue holds %d orders (%v), want 1", len(msgs), err)
	}
	order, err := schemas.DecodeRunOrder(msgs[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	if order.JobID != "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E" || order.Caller.Principal != "arn:aws:iam::123456789012:role/ci-deployer" {
		t.Errorf("order %s from %s", order.JobID, order.Caller.Principal)
	}
	if types := eventTypes(h.events(t, "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E")); types != "accepted,queued" {
		t.Errorf("accepted job's events: %s", types)
	}

	// Rejected by policy, by caller, and for an unterminated quote: each
	// answered on its stream with the reason code.
	for id, code := range map[string]string{
		"01JD3Q8Z5W6X7Y8Z9A0B1C2D3F": policy.CodeOptionRestricted,
		"01JD3Q8Z5W6X7Y8Z9A0B1C2D3H": gatekeeper.ReasonNoIdentity,
		"01JD3Q8Z5W6X7Y8Z9A0B1C2D3J": policy.CodeMalformedArgs,
		"01JD3Q8Z5W6X7Y8Z9A0B1C2D3G": gatekeeper.ReasonUnsupportedSchema,
	} {
		evs := h.events(t, id)
		if len(evs) != 1 || evs[0].Type != schemas.EventRejected || evs[0].ReasonCode != code {
			t.Errorf("job %s: events %+v, want one rejected event with code %s", id, evs, code)
		}
	}

	// Undecodable messages are dead-lettered with their reason.
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
		codes[dl.Failure.ReasonCode] = true
		if dl.Raw == "" {
			t.Errorf("dead letter %s keeps no raw body", dl.Failure.ReasonCode)
		}
	}
	if len(dls) != 2 || !codes[gatekeeper.ReasonMalformed] || !codes[gatekeeper.ReasonUnsupportedSchema] {
		t.Errorf("dead letters %v, want malformed_request and unsupported_schema", codes)
	}
}

func TestHandleSQSEventReportsTransientFailuresOnly(t *testing.T) {
	h := newHarness(t, sqlitestream.Address("01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"))
	resp, err := h.g.HandleSQSEvent(context.Background(), loadEvent(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "0d6b4b6e-6e7c-4a8f-9d1e-1f0e2a3b4c5d" {
		t.Fatalf("batch item failures %+v, want only the record whose stream failed", resp.BatchItemFailures)
	}
	// The rest of the batch still went through.
	if evs := h.events(t, "01JD3Q8Z5W6X7Y8Z9A0B1C2D3F"); len(evs) != 1 {
		t.Errorf("rejected job got %d events, want 1", len(evs))
	}
}

func eventTypes(evs []schemas.JobEvent) string {
	s := ""
	for i, e := range evs {
		if i > 0 {
			s += ","
		}
		s += string(e.Type)
	}
	return s
}
