package embedded

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/internal/stream/sqlitestream"
	"github.com/deployerhq/deployer/schemas"
)

// TestTogetherMakesTheAdaptersWritesOne: a job's stream, an event
// published to it, the event journaled and a request enqueued, made in
// one Together, are seen by another process's handle all at once, once
// it commits, and not at all when it fails.
func TestTogetherMakesTheAdaptersWritesOne(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	b, err := Open(ctx, dir, Options{Sender: "user:test"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	other, err := Open(ctx, dir, Options{}) // as another process reads it
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Close() }()

	const jobID = "01J00000000000000000000000"
	ev := schemas.JobEvent{Schema: schemas.JobEventV1, JobID: jobID, ID: "test:accepted", Time: time.Now().UTC(),
		Type: schemas.EventAccepted, Source: "test"}
	writes := func(ctx context.Context) error {
		addr, err := b.Streams.Create(ctx, jobID, time.Hour)
		if err != nil {
			return err
		}
		if err := b.Streams.Publish(ctx, addr, ev); err != nil {
			return err
		}
		if err := b.Journal.Append(ctx, jobID, ev); err != nil {
			return err
		}
		_, err = b.requests.Send(ctx, queue.Outgoing{Body: []byte(`{"schema":"job_request/v1"}`)})
		return err
	}
	// seen reports which of the writes the other handle reads.
	seen := func() (streamed, journaled, queued bool) {
		t.Helper()
		sub, err := other.Streams.Subscribe(ctx, sqlitestream.Address(jobID))
		switch {
		case err == nil:
			evs, err := sub.Next(ctx, 0)
			_ = sub.Close()
			if err != nil {
				t.Fatal(err)
			}
			streamed = len(evs) == 1
		case !errors.Is(err, stream.ErrNotFound):
			t.Fatal(err)
		}
		switch _, err := other.Journal.Read(ctx, jobID); {
		case err == nil:
			journaled = true
		case !errors.Is(err, journal.ErrNotFound):
			t.Fatal(err)
		}
		var n int
		if err := other.DB.QueryRowContext(ctx, `SELECT count(*) FROM queue_messages`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return streamed, journaled, n == 1
	}

	boom := errors.New("boom")
	err = b.Together(ctx, func(ctx context.Context) error {
		if err := writes(ctx); err != nil {
			return err
		}
		if s, j, q := seen(); s || j || q {
			t.Errorf("before the commit, another handle reads: event streamed %v, journaled %v, request queued %v; want none", s, j, q)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("a failing Together = %v, want its error", err)
	}
	if s, j, q := seen(); s || j || q {
		t.Fatalf("after a failed Together, another handle reads: event streamed %v, journaled %v, request queued %v; want none", s, j, q)
	}

	if err := b.Together(ctx, writes); err != nil {
		t.Fatal(err)
	}
	if s, j, q := seen(); !s || !j || !q {
		t.Fatalf("after the Together, another handle reads: event streamed %v, journaled %v, request queued %v; want all", s, j, q)
	}
}
