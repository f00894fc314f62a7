package sqlitejournal_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/internal/journal/journaltest"
	"github.com/deployerhq/deployer/internal/journal/sqlitejournal"
	"github.com/deployerhq/deployer/internal/sqlitedb"
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

func newJournal(t *testing.T, db *sql.DB, opts sqlitejournal.Options) *sqlitejournal.Journal {
	t.Helper()
	j, err := sqlitejournal.New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestConformance(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "deployer.db"))
	journaltest.Run(t, func(t *testing.T) journal.Journal { return newJournal(t, db, sqlitejournal.Options{}) })
}

// TestConformanceCrossHandle appends through one handle and reads through
// another on the same file, as two processes do.
func TestConformanceCrossHandle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deployer.db")
	w := newJournal(t, openDB(t, path), sqlitejournal.Options{})
	r := newJournal(t, openDB(t, path), sqlitejournal.Options{})
	journaltest.Run(t, func(t *testing.T) journal.Journal { return split{w, r} })
}

type split struct{ w, r *sqlitejournal.Journal }

func (s split) Append(ctx context.Context, jobID string, events ...schemas.JobEvent) error {
	return s.w.Append(ctx, jobID, events...)
}

func (s split) Read(ctx context.Context, jobID string) ([]schemas.JobEvent, error) {
	return s.r.Read(ctx, jobID)
}

func TestAppendRefusesEventWithoutID(t *testing.T) {
	j := newJournal(t, openDB(t, filepath.Join(t.TempDir(), "deployer.db")), sqlitejournal.Options{})
	jobID := ulid.Make().String()
	err := j.Append(t.Context(), jobID, schemas.JobEvent{JobID: jobID, Type: schemas.EventQueued})
	if err == nil {
		t.Fatal("Append of an event without id succeeded")
	}
}

func TestReadSkipsUndecodableEntries(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "deployer.db"))
	var logs bytes.Buffer
	j := newJournal(t, db, sqlitejournal.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	jobID := ulid.Make().String()
	ev := schemas.JobEvent{JobID: jobID, ID: "a", Time: time.Now(), Type: schemas.EventQueued}
	if err := j.Append(t.Context(), jobID, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), `INSERT INTO journal_events (job_id, seq, event_id, event)
		VALUES (?, 2, 'b', 'garbage')`, jobID); err != nil {
		t.Fatal(err)
	}
	ev.ID = "c"
	if err := j.Append(t.Context(), jobID, ev); err != nil {
		t.Fatal(err)
	}
	got, err := j.Read(t.Context(), jobID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "a" || got[1].ID != "c" {
		t.Fatalf("got %+v, want events a and c", got)
	}
	if !strings.Contains(logs.String(), "skipping undecodable journal entry") {
		t.Fatalf("no skip logged:\n%s", logs.String())
	}
}

func (s split) List(ctx context.Context, opts journal.ListOptions) ([]string, error) {
	return s.r.List(ctx, opts)
}
