package gatekeeper_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/stream/sqlitestream"
	"github.com/deployerhq/deployer/schemas"
)

// TestServeHandsBackWhatItStopsBefore: a server stopped while handling a
// request makes it visible again at once, for another server to take,
// instead of leaving it hidden for its (here ten-minute) visibility.
func TestServeHandsBackWhatItStopsBefore(t *testing.T) {
	h := onceHarness(t)
	requests, err := h.broker.Create(t.Context(), "requests", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	body, err := schemas.JobRequest{
		JobID: ownJob, Container: "terraform-planner", Script: "echo", Args: schemas.ArgList("hi"), Stream: sqlitestream.Address(ownJob),
		Attempt: 1, SubmittedAt: time.Now(),
	}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := requests.Send(t.Context(), queue.Outgoing{Body: body}); err != nil {
		t.Fatal(err)
	}
	// Identifying the caller waits until the server is stopped.
	entered := make(chan struct{})
	h.g.Identify = func(ctx context.Context, _ string) (schemas.Identity, error) {
		close(entered)
		<-ctx.Done()
		return schemas.Identity{}, ctx.Err()
	}
	ctx, stop := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() {
		served <- h.g.Serve(ctx, requests, gatekeeper.ServeOptions{Wait: time.Second, Visibility: 10 * time.Minute})
	}()
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the request was never handled")
	}
	stop()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	msgs, err := requests.Receive(t.Context(), queue.ReceiveOptions{Max: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || !bytes.Equal(msgs[0].Body, body) {
		t.Fatalf("after the stop, a receive got %d messages, want the request back at once", len(msgs))
	}
}
