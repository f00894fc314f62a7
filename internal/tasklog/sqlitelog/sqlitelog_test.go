package sqlitelog_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/internal/tasklog"
	"github.com/deployerhq/deployer/internal/tasklog/sqlitelog"
	"github.com/deployerhq/deployer/internal/tasklog/tasklogtest"
	"github.com/deployerhq/deployer/schemas"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sqlitedb.OpenFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

func newLog(tb testing.TB, db *sql.DB) *sqlitelog.Log {
	tb.Helper()
	l, err := sqlitelog.New(db, sqlitelog.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

func tempLog(tb testing.TB) *sqlitelog.Log {
	return newLog(tb, openDB(tb, filepath.Join(tb.TempDir(), "deployer.db")))
}

func harness(w, r *sqlitelog.Log) tasklogtest.Harness {
	jobID := ulid.Make().String()
	return tasklogtest.Harness{
		Source: r,
		Write: func(ctx context.Context, taskID string, lines []schemas.LogLine) error {
			return w.Append(ctx, taskID, jobID, lines)
		},
	}
}

func TestConformance(t *testing.T) {
	l := tempLog(t)
	tasklogtest.Run(t, func(t *testing.T) tasklogtest.Harness { return harness(l, l) })
}

// TestConformanceCrossHandle writes through one database handle and reads
// through another on the same file, as a supervisor and a follower in two
// processes do.
func TestConformanceCrossHandle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deployer.db")
	w, r := newLog(t, openDB(t, path)), newLog(t, openDB(t, path))
	tasklogtest.Run(t, func(t *testing.T) tasklogtest.Harness { return harness(w, r) })
}

func line(seq int64, text string) schemas.LogLine {
	return schemas.LogLine{Seq: seq, Time: time.UnixMilli(1700000000000 + seq).UTC(), Text: text}
}

func TestAppendIdempotentAndOutOfOrder(t *testing.T) {
	l := tempLog(t)
	ctx := t.Context()
	if err := l.Append(ctx, "t1", "J", []schemas.LogLine{line(3, "three"), line(1, "one")}); err != nil {
		t.Fatal(err)
	}
	// Seq 1 again with other text is a no-op; 2 fills the gap.
	if err := l.Append(ctx, "t1", "J", []schemas.LogLine{line(1, "ONE"), line(2, "two"), line(2, "TWO")}); err != nil {
		t.Fatal(err)
	}
	got, err := l.Read(ctx, "t1", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, ln := range got {
		texts = append(texts, fmt.Sprint(ln.Seq, ln.Text))
	}
	if s := strings.Join(texts, ","); s != "1one,2two,3three" {
		t.Fatalf("got %s", s)
	}
	if n, err := l.Count(ctx, "t1"); err != nil || n != 3 {
		t.Fatalf("Count = %d, %v; want 3", n, err)
	}
	if n, err := l.Count(ctx, "unknown"); err != nil || n != 0 {
		t.Fatalf("Count(unknown) = %d, %v; want 0", n, err)
	}
}

func TestAppendRefusesBadLines(t *testing.T) {
	l := tempLog(t)
	ctx := t.Context()
	for _, tc := range []struct {
		task, job string
		lines     []schemas.LogLine
	}{
		{"", "J", []schemas.LogLine{line(1, "x")}},
		{"t", "", []schemas.LogLine{line(1, "x")}},
		{"t", "J", []schemas.LogLine{line(1, "x"), line(0, "zero")}},
	} {
		if err := l.Append(ctx, tc.task, tc.job, tc.lines); err == nil {
			t.Errorf("Append(%q, %q, %v) succeeded", tc.task, tc.job, tc.lines)
		}
	}
	if _, err := l.Read(ctx, "t", 0, 10); !errors.Is(err, tasklog.ErrNotFound) {
		t.Fatalf("a refused batch stored lines: %v", err)
	}
}

func TestIDs(t *testing.T) {
	l := tempLog(t)
	ctx := t.Context()
	lines := []schemas.LogLine{line(1, "a"), line(2, "b"), line(3, "c")}
	lines[1].ID = "custom-id"
	lines[2].ID = "t1:3" // the default, given explicitly
	if err := l.Append(ctx, "t1", "J", lines); err != nil {
		t.Fatal(err)
	}
	got, err := l.Read(ctx, "t1", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"t1:1", "custom-id", "t1:3"}
	for i, ln := range got {
		if ln.ID != want[i] {
			t.Errorf("line %d: id %q, want %q", ln.Seq, ln.ID, want[i])
		}
	}
}

func TestBytesPreserved(t *testing.T) {
	l := tempLog(t)
	ctx := t.Context()
	texts := []string{"invalid utf-8: \xff\xfe\x80", "nul: a\x00b", "cr: a\rb"}
	var lines []schemas.LogLine
	for i, s := range texts {
		lines = append(lines, line(int64(i+1), s))
	}
	if err := l.Append(ctx, "t1", "J", lines); err != nil {
		t.Fatal(err)
	}
	got, err := l.Read(ctx, "t1", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for i, ln := range got {
		if ln.Text != texts[i] {
			t.Errorf("line %d: %q, want %q", ln.Seq, ln.Text, texts[i])
		}
	}
}

func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deployer.db")
	w, r := newLog(t, openDB(t, path)), newLog(t, openDB(t, path))
	ctx := t.Context()
	if entries, err := r.Tail(ctx, 0, 10); err != nil || len(entries) != 0 {
		t.Fatalf("Tail of an empty log = %v, %v", entries, err)
	}
	// Interleaved tasks of two jobs.
	batches := []struct {
		task, job string
		from, to  int64
	}{{"a", "JA", 1, 3}, {"b", "JB", 1, 2}, {"a", "JA", 4, 5}, {"b", "JB", 3, 3}}
	var want []string
	for _, b := range batches {
		var lines []schemas.LogLine
		for s := b.from; s <= b.to; s++ {
			lines = append(lines, line(s, fmt.Sprintf("%s%d", b.task, s)))
			want = append(want, fmt.Sprintf("%s/%s/%d/%s%d", b.task, b.job, s, b.task, s))
		}
		if err := w.Append(ctx, b.task, b.job, lines); err != nil {
			t.Fatal(err)
		}
	}
	// A repeated batch stores nothing new.
	if err := w.Append(ctx, "a", "JA", []schemas.LogLine{line(1, "a1"), line(2, "a2")}); err != nil {
		t.Fatal(err)
	}
	var got []string
	var cursor int64
	for {
		entries, err := r.Tail(ctx, cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Cursor <= cursor {
				t.Fatalf("cursor %d after %d", e.Cursor, cursor)
			}
			cursor = e.Cursor
			if e.Line.Time != time.UnixMilli(1700000000000+e.Line.Seq).UTC() || e.Line.ID == "" {
				t.Fatalf("entry %+v: bad time or id", e)
			}
			got = append(got, fmt.Sprintf("%s/%s/%d/%s", e.TaskID, e.JobID, e.Line.Seq, e.Line.Text))
		}
		if len(entries) < 3 {
			break
		}
	}
	if g, w := strings.Join(got, " "), strings.Join(want, " "); g != w {
		t.Fatalf("Tail:\n got %s\nwant %s", g, w)
	}
	// Later lines come after the cursor.
	if err := w.Append(ctx, "c", "JC", []schemas.LogLine{line(1, "c1")}); err != nil {
		t.Fatal(err)
	}
	entries, err := r.Tail(ctx, cursor, 10)
	if err != nil || len(entries) != 1 || entries[0].TaskID != "c" {
		t.Fatalf("Tail after %d = %+v, %v; want task c's line", cursor, entries, err)
	}
}

func TestCursors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deployer.db")
	a, b := newLog(t, openDB(t, path)), newLog(t, openDB(t, path))
	ctx := t.Context()
	if c, err := a.LoadCursor(ctx, "shipper"); err != nil || c != 0 {
		t.Fatalf("LoadCursor of an unsaved cursor = %d, %v; want 0", c, err)
	}
	for _, c := range []int64{42, 7, 1 << 40} {
		if err := a.SaveCursor(ctx, "shipper", c); err != nil {
			t.Fatal(err)
		}
		if got, err := b.LoadCursor(ctx, "shipper"); err != nil || got != c {
			t.Fatalf("LoadCursor = %d, %v; want %d", got, err, c)
		}
	}
	if c, err := b.LoadCursor(ctx, "other"); err != nil || c != 0 {
		t.Fatalf("LoadCursor(other) = %d, %v; want 0", c, err)
	}
}

// BenchmarkAppend appends batches of 300 lines of about 100 bytes, as a
// busy task's supervisor does, to a log that already holds other tasks.
func BenchmarkAppend(b *testing.B) {
	l := tempLog(b)
	ctx := context.Background()
	const batch = 300
	text := strings.Repeat("terraform: aws_instance.web[3]: Still creating... ", 2)
	lines := make([]schemas.LogLine, batch)
	now := time.Now()
	var seq int64
	b.ResetTimer()
	for i := range b.N {
		for j := range lines {
			seq++
			lines[j] = schemas.LogLine{Seq: seq, Time: now, Text: text}
		}
		if err := l.Append(ctx, fmt.Sprint("task-", i/100), "JOB", lines); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "lines/s")
}

// TestEndRecordInATableMadeBeforeEndRecords: a state directory made by an
// earlier version gains the end record column, whoever opens it first,
// and keeps its lines.
func TestEndRecordInATableMadeBeforeEndRecords(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "deployer.db"))
	if _, err := db.ExecContext(t.Context(), `CREATE TABLE task_log (
		id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, job_id TEXT NOT NULL,
		seq INTEGER NOT NULL, event_id TEXT, time_ms INTEGER NOT NULL, text TEXT NOT NULL,
		UNIQUE (task_id, seq))`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), `INSERT INTO task_log (task_id, job_id, seq, time_ms, text) VALUES ('t', 'j', 1, 0, 'old')`); err != nil {
		t.Fatal(err)
	}
	l := newLog(t, db)
	newLog(t, db) // a second opener finds the column there
	code := 4
	if err := l.Append(t.Context(), "t", "j", []schemas.LogLine{{Seq: 2, End: &schemas.LogEnd{Lines: 1, ExitCode: &code}}}); err != nil {
		t.Fatal(err)
	}
	lines, err := l.Read(t.Context(), "t", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || lines[0].Text != "old" || lines[0].End != nil || lines[1].End == nil || *lines[1].End.ExitCode != 4 {
		t.Fatalf("lines %+v", lines)
	}
	if n, err := l.Count(t.Context(), "t"); err != nil || n != 1 {
		t.Errorf("Count = %d, %v; want 1 (the end record is not a line)", n, err)
	}
}
