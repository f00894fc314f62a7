package gatekeeper_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/sqlitedb"
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

// inUnit marks the context of a Together in TestServeDeletesWithTheHandling.
type inUnit struct{}

// watchedRequests is a request queue on db that says whether each Delete
// ran inside a Together, and fails the first one when told to.
type watchedRequests struct {
	queue.Queue
	db      *sql.DB
	mu      sync.Mutex
	deletes []bool // per Delete: inside a Together
	fail    bool
	// done gets a value per Delete once it is over: committed, with
	// the Together it is in, or failed.
	done chan struct{}
}

func (w *watchedRequests) Delete(ctx context.Context, receipts ...string) error {
	w.mu.Lock()
	w.deletes = append(w.deletes, ctx.Value(inUnit{}) != nil)
	fail := w.fail
	w.fail = false
	w.mu.Unlock()
	if fail {
		w.done <- struct{}{}
		return errors.New("injected delete failure")
	}
	err := w.Queue.Delete(ctx, receipts...)
	sqlitedb.AfterCommit(ctx, w.db, func() { w.done <- struct{}{} })
	return err
}

func (w *watchedRequests) seen() []bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.deletes)
}

// TestServeDeletesWithTheHandling: where the backend makes a step's
// writes one (Together), a handled request is deleted in the same
// transaction as its handling's writes (one commit, one wake-up of the
// processes watching the state database, instead of two). A delete
// that fails there is undone alone: the handling stands, and the
// request is deleted after, as on SQS.
func TestServeDeletesWithTheHandling(t *testing.T) {
	for _, c := range []struct {
		name string
		fail bool
		want []bool
	}{
		{"with the handling", false, []bool{true}},
		{"after, when that fails", true, []bool{true, false}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := onceHarness(t)
			h.g.Together = func(ctx context.Context, fn func(context.Context) error) error {
				return sqlitedb.Together(ctx, h.db, func(ctx context.Context) error {
					return fn(context.WithValue(ctx, inUnit{}, true))
				})
			}
			identify := h.g.Identify
			h.g.Identify = func(ctx context.Context, _ string) (schemas.Identity, error) { return identify(ctx, ciSender) }
			q, err := h.broker.Create(t.Context(), "requests", queue.Config{})
			if err != nil {
				t.Fatal(err)
			}
			requests := &watchedRequests{Queue: q, db: h.db, fail: c.fail, done: make(chan struct{}, 10)}
			if _, err := q.Send(t.Context(), queue.Outgoing{Body: request(t, ownJob, sqlitestream.Address(ownJob), "echo", "hi").Body}); err != nil {
				t.Fatal(err)
			}
			ctx, stop := context.WithCancel(t.Context())
			served := make(chan error, 1)
			go func() {
				served <- h.g.Serve(ctx, requests, gatekeeper.ServeOptions{Wait: time.Second, Visibility: 10 * time.Minute})
			}()
			for range c.want {
				select {
				case <-requests.done:
				case <-time.After(30 * time.Second):
					t.Fatalf("deletes %v, want %v", requests.seen(), c.want)
				}
			}
			stop()
			if err := <-served; err != nil {
				t.Fatalf("Serve: %v", err)
			}
			if got := requests.seen(); !slices.Equal(got, c.want) {
				t.Errorf("deletes inside a Together: %v, want %v", got, c.want)
			}
			if types := eventTypes(h.events(t, ownJob)); types != "accepted,queued" {
				t.Errorf("stream %q, want the request accepted and queued", types)
			}
			msgs, err := q.Receive(t.Context(), queue.ReceiveOptions{Max: queue.MaxBatch, Visibility: time.Second})
			if err != nil || len(msgs) != 0 {
				t.Errorf("the request queue holds %d messages (%v), want the request deleted", len(msgs), err)
			}
		})
	}
}
