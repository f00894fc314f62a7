package embedded

import (
	"context"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/sqlitedb/sqlitedbtest"
	"github.com/deployerhq/deployer/internal/topology"
)

// TestOpenTakesNoWriteLock: opening a state directory that has its tables
// and queues reads them and writes nothing, so a command opens it while
// another process holds the write lock, and leaves the queues'
// configuration as it finds it. Serving gives them this version's.
func TestOpenTakesNoWriteLock(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	first, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = first.Close() }()
	// An earlier version's configuration of the request queue.
	older := topology.RequestQueueConfig()
	older.DeadLetter.MaxReceiveCount = topology.RequestMaxReceives + 7
	if _, err := first.Broker.Create(ctx, topology.RequestQueue, older); err != nil {
		t.Fatal(err)
	}

	release := sqlitedbtest.HoldWriteLock(t, dir) // as another process
	// Taking the lock would wait for the writer, up to the deadline.
	quick, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b, err := Open(quick, dir, Options{})
	if err != nil {
		t.Fatalf("opening while another process holds the write lock: %v", err)
	}
	defer func() { _ = b.Close() }()
	release()
	if got := maxReceives(t, b, topology.RequestQueue); got != older.DeadLetter.MaxReceiveCount {
		t.Errorf("after opening, the request queue redrives after %d receives, want the %d it had", got, older.DeadLetter.MaxReceiveCount)
	}

	if err := b.applyTopology(ctx, refuseAll{}); err != nil {
		t.Fatal(err)
	}
	if got := maxReceives(t, b, topology.RequestQueue); got != topology.RequestMaxReceives {
		t.Errorf("after serving starts, the request queue redrives after %d receives, want this version's %d", got, topology.RequestMaxReceives)
	}
	for _, name := range []string{topology.RequestDLQ, topology.RequestQueue, topology.RunDLQ} {
		if _, err := b.Broker.Open(ctx, name); err != nil {
			t.Errorf("queue %s: %v", name, err)
		}
	}
}

// maxReceives is the receive count after which the queue name redrives
// its messages to its dead-letter queue.
func maxReceives(t *testing.T, b *Backend, name string) int {
	t.Helper()
	var n int
	if err := b.DB.QueryRowContext(t.Context(), "SELECT max_receives FROM queue_queues WHERE name = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
