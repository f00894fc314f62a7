package embedded

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// refuseAll is a policy that rejects every request.
type refuseAll struct{}

func (refuseAll) Resolve(schemas.JobRequest, schemas.Identity, time.Time) (schemas.RunOrder, error) {
	return schemas.RunOrder{}, errors.New("refused by the test")
}

func open(t *testing.T) *Backend {
	t.Helper()
	b, err := Open(t.Context(), t.TempDir(), Options{Sender: "user:test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// TestIdleLooksAtEveryQueue: a message in the request queue or any lane
// run queue, delayed or not, keeps the pipeline busy; a dead letter does
// not.
func TestIdleLooksAtEveryQueue(t *testing.T) {
	for _, c := range []struct {
		name  string
		queue func(b *Backend) (queue.Queue, error)
		delay time.Duration
		idle  bool
	}{
		{"nothing", nil, 0, true},
		{"a delayed request", func(b *Backend) (queue.Queue, error) { return b.requests, nil }, 10 * time.Minute, false},
		{"a run order", func(b *Backend) (queue.Queue, error) { return b.RunQueue(context.Background(), "default") }, 0, false},
		{"a cancel order", func(b *Backend) (queue.Queue, error) { return b.RunQueue(context.Background(), topology.CancelLane) }, 0, false},
		{"a dead letter", func(b *Backend) (queue.Queue, error) { return b.runDLQ, nil }, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := open(t)
			if c.queue != nil {
				q, err := c.queue(b)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := q.Send(t.Context(), queue.Outgoing{Body: []byte("{}"), Delay: c.delay}); err != nil {
					t.Fatal(err)
				}
			}
			w, err := worker.New(worker.Ports{Broker: b.Broker, DeadLetters: b.runDLQ, Runner: b.Runner,
				Streams: b.Streams, Journal: b.Journal, Lanes: b.Lanes}, worker.Options{})
			if err != nil {
				t.Fatal(err)
			}
			idle, err := b.isIdle(t.Context(), w)
			if err != nil || idle != c.idle {
				t.Fatalf("isIdle = %v, %v; want %v", idle, err, c.idle)
			}
		})
	}
}

// TestServeUntilIdleStopsAfterTheWork: a server marks the state directory
// as served before it is ready, stays while a request waits for it (one
// delayed past its idle time), and then stops by itself, unmarked.
func TestServeUntilIdleStopsAfterTheWork(t *testing.T) {
	b := open(t)
	const delay = 500 * time.Millisecond
	if _, err := b.requests.Send(t.Context(), queue.Outgoing{Body: []byte("not a request"), Delay: delay}); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	var servedWhenReady bool
	done := make(chan error, 1)
	go func() {
		done <- b.ServeUntilIdle(t.Context(), refuseAll{}, backend.ServeOptions{
			Visibility: time.Second,
			Ready:      func() { servedWhenReady, _ = b.Served() },
		}, 50*time.Millisecond)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not stop by itself")
	}
	if !servedWhenReady {
		t.Error("the state directory was not marked as served when the server was ready")
	}
	if took := time.Since(begin); took < delay {
		t.Errorf("stopped after %s, before the delayed request (%s) was handled", took, delay)
	}
	if n, err := b.Broker.Count(t.Context(), topology.RequestQueue); err != nil || n != 0 {
		t.Errorf("%d requests left (%v)", n, err)
	}
	if served, err := b.Served(); err != nil || served {
		t.Errorf("still marked as served after stopping (%v)", err)
	}
}
