package producer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/queue/sqlitequeue"
	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/internal/stream/sqlitestream"
	"github.com/deployerhq/deployer/schemas"
)

func cancelClient(t *testing.T) *Client {
	t.Helper()
	db, err := sqlitedb.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	broker, err := sqlitequeue.New(db, sqlitequeue.Options{SenderID: "user:bob"})
	if err != nil {
		t.Fatal(err)
	}
	streams, err := sqlitestream.New(db, sqlitestream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	requests, err := broker.Create(context.Background(), "requests", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return &Client{Requests: requests, Streams: streams}
}

func TestCancelSendsARequestAndReturnsTheAnswer(t *testing.T) {
	c := cancelClient(t)
	ctx, stop := context.WithTimeout(context.Background(), 20*time.Second)
	defer stop()
	got := make(chan schemas.CancelRequest, 1)
	go func() {
		// The gatekeeper: answer on the reply stream. An event of some
		// other job cannot even reach it (the stream refuses it).
		for ctx.Err() == nil {
			msgs, err := c.Requests.Receive(ctx, queue.ReceiveOptions{Wait: time.Second})
			if err != nil || len(msgs) == 0 {
				continue
			}
			req, err := schemas.DecodeCancelRequest(msgs[0].Body)
			if err != nil {
				t.Errorf("the request does not decode: %v", err)
				return
			}
			got <- req
			other := schemas.JobEvent{Schema: schemas.JobEventV1, JobID: ulidA, ID: "x", Time: time.Now(), Type: schemas.EventCancelAccepted}
			answer := schemas.JobEvent{Schema: schemas.JobEventV1, JobID: req.RequestID, ID: "y", Time: time.Now(), Type: schemas.EventCancelRejected,
				Outcome: schemas.OutcomeRejected, ReasonCode: "caller_not_allowed", Reason: "no"}
			if err := c.Streams.Publish(ctx, req.ReplyStream, other); !errors.Is(err, schemas.ErrMalformed) {
				t.Errorf("publishing another job's event to the reply stream: %v, want schemas.ErrMalformed", err)
			}
			if err := c.Streams.Publish(ctx, req.ReplyStream, answer); err != nil {
				t.Errorf("answering: %v", err)
			}
			return
		}
	}()
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"
	ans, err := c.Cancel(ctx, job, CancelOptions{Reason: "wrong ref", Caller: schemas.CallerMetadata{User: "bob"}})
	if err != nil {
		t.Fatal(err)
	}
	if ans.Accepted || ans.ReasonCode != "caller_not_allowed" || ans.Reason != "no" {
		t.Fatalf("answer %+v, want rejected caller_not_allowed", ans)
	}
	req := <-got
	if req.JobID != job || req.Reason != "wrong ref" || req.Caller.User != "bob" || !schemas.ValidJobID(req.RequestID) || req.RequestID == job {
		t.Fatalf("request %+v", req)
	}
	// The reply stream is gone once answered.
	if _, err := c.Streams.Subscribe(ctx, req.ReplyStream); !errors.Is(err, stream.ErrNotFound) {
		t.Errorf("reply stream after the answer: %v, want ErrNotFound", err)
	}
}

func TestCancelWithoutAnAnswerEndsWithTheContext(t *testing.T) {
	c := cancelClient(t)
	ctx, stop := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer stop()
	if _, err := c.Cancel(ctx, "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E", CancelOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Cancel with nobody answering: %v, want DeadlineExceeded", err)
	}
	if _, err := c.Cancel(context.Background(), "latest", CancelOptions{}); !errors.Is(err, schemas.ErrMalformed) {
		t.Fatalf("Cancel of a bad id: %v, want ErrMalformed", err)
	}
}
