package sqlitestream_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/internal/stream/sqlitestream"
	"github.com/deployerhq/deployer/internal/stream/streamtest"
	"github.com/deployerhq/deployer/schemas"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sqlitedb.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func newStreams(t *testing.T, db *sql.DB, opts sqlitestream.Options) *sqlitestream.Streams {
	t.Helper()
	s, err := sqlitestream.New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var features = streamtest.Features{
	Replayable: true,
	Ordered:    true,
	Address:    sqlitestream.Address,
	EmptyWait:  100 * time.Millisecond,
	PollWait:   time.Second,
	Timeout:    20 * time.Second,
}

func TestConformance(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "deployer.db"))
	streamtest.Run(t, features, func(t *testing.T) stream.Streams {
		return newStreams(t, db, sqlitestream.Options{})
	})
}

// TestConformanceCrossHandle publishes through one database handle and
// subscribes through another on the same file, as two processes do: the
// subscriber is woken only by polling.
func TestConformanceCrossHandle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deployer.db")
	pub := newStreams(t, openDB(t, path), sqlitestream.Options{})
	sub := newStreams(t, openDB(t, path), sqlitestream.Options{})
	streamtest.Run(t, features, func(t *testing.T) stream.Streams {
		return split{pub: pub, sub: sub}
	})
}

// split publishes, creates and deletes through pub and subscribes through
// sub.
type split struct{ pub, sub *sqlitestream.Streams }

func (s split) Create(ctx context.Context, jobID string, ttl time.Duration) (string, error) {
	return s.pub.Create(ctx, jobID, ttl)
}

func (s split) Publish(ctx context.Context, address string, events ...schemas.JobEvent) error {
	return s.pub.Publish(ctx, address, events...)
}

func (s split) Subscribe(ctx context.Context, address string) (stream.Subscription, error) {
	return s.sub.Subscribe(ctx, address)
}

func (s split) Delete(ctx context.Context, address string) error { return s.pub.Delete(ctx, address) }

func (s split) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	return s.pub.DeleteExpired(ctx, now)
}

func TestSkipsUndecodableEntries(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "deployer.db"))
	var logs bytes.Buffer
	s := newStreams(t, db, sqlitestream.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := t.Context()
	jobID := ulid.Make().String()
	addr, err := s.Create(ctx, jobID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(id string) schemas.JobEvent {
		return schemas.JobEvent{JobID: jobID, ID: id, Time: time.Now(), Type: schemas.EventHeartbeat}
	}
	if err := s.Publish(ctx, addr, ev("a")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`not json`, `{"schema":"job_event/v9"}`, `{"schema":"job_event/v1","job_id":"x"}`} {
		if _, err := db.ExecContext(ctx, `INSERT INTO stream_events (job_id, event) VALUES (?, ?)`, jobID, bad); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Publish(ctx, addr, ev("b")); err != nil {
		t.Fatal(err)
	}
	sub, err := s.Subscribe(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var got []string
	for len(got) < 2 {
		evs, err := sub.Next(ctx, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			t.Fatalf("got %v, want [a b]", got)
		}
		for _, e := range evs {
			got = append(got, e.ID)
		}
	}
	if strings.Join(got, ",") != "a,b" {
		t.Fatalf("got %v, want [a b]", got)
	}
	if n := strings.Count(logs.String(), "skipping undecodable stream entry"); n != 3 {
		t.Fatalf("logged %d skips, want 3:\n%s", n, logs.String())
	}
}

func TestPublishRefusesOversizedEvent(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "deployer.db"))
	s := newStreams(t, db, sqlitestream.Options{})
	ctx := t.Context()
	jobID := ulid.Make().String()
	addr, err := s.Create(ctx, jobID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	small := schemas.JobEvent{JobID: jobID, ID: "small", Type: schemas.EventHeartbeat}
	big := schemas.JobEvent{JobID: jobID, ID: "big", Type: schemas.EventLog,
		Lines: []schemas.LogLine{{Seq: 1, Text: strings.Repeat("x", schemas.MaxMessageSize)}}}
	if err := s.Publish(ctx, addr, small, big); !errors.Is(err, schemas.ErrTooLarge) {
		t.Fatalf("Publish: got %v, want schemas.ErrTooLarge", err)
	}
	sub, err := s.Subscribe(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if evs, err := sub.Next(ctx, 0); err != nil || len(evs) != 0 {
		t.Fatalf("Next = %v, %v; want nothing published", evs, err)
	}
}

func TestCreateExtendsExpiry(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "deployer.db"))
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newStreams(t, db, sqlitestream.Options{Now: func() time.Time { return now }})
	ctx := t.Context()
	jobID := ulid.Make().String()
	if _, err := s.Create(ctx, jobID, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, jobID, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, jobID, time.Second); err != nil { // never shortens
		t.Fatal(err)
	}
	if n, err := s.DeleteExpired(ctx, now.Add(30*time.Minute)); err != nil || n != 0 {
		t.Fatalf("DeleteExpired(+30m) = %d, %v; want 0", n, err)
	}
	if n, err := s.DeleteExpired(ctx, now.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("DeleteExpired(+1h) = %d, %v; want 1", n, err)
	}
}
