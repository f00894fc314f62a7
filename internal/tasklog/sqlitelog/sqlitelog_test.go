package sqlitelog_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
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
	if _, err := l.Read(ctx, "unknown", 0, 10); !errors.Is(err, tasklog.ErrNotFound) {
		t.Fatalf("Read(unknown) = %v, want ErrNotFound", err)
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
	var lines []schemas.LogLine
	for i := range 12 {
		lines = append(lines, line(int64(i+1), "x"))
	}
	lines[1].ID = "custom-id"
	lines[2].ID = "t1:3" // the default, given explicitly
	lines[10].ID = "another"
	if err := l.Append(ctx, "t1", "J", lines); err != nil {
		t.Fatal(err)
	}
	got, err := l.Read(ctx, "t1", 0, 11)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"t1:1", "custom-id", "t1:3", "t1:4", "t1:5", "t1:6", "t1:7", "t1:8", "t1:9", "t1:10", "another"}
	if len(got) != len(want) {
		t.Fatalf("read %d lines, want %d", len(got), len(want))
	}
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

func TestMarks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deployer.db")
	w, r := newLog(t, openDB(t, path)), newLog(t, openDB(t, path))
	ctx := t.Context()
	if marks, err := r.Marks(ctx, 0, 10); err != nil || len(marks) != 0 {
		t.Fatalf("Marks of an empty log = %v, %v", marks, err)
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
		}
		want = append(want, fmt.Sprintf("%s/%s/%d", b.task, b.job, b.to))
		if err := w.Append(ctx, b.task, b.job, lines); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	var cursor int64
	for {
		marks, err := r.Marks(ctx, cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range marks {
			if m.Cursor <= cursor {
				t.Fatalf("cursor %d after %d", m.Cursor, cursor)
			}
			cursor = m.Cursor
			got = append(got, fmt.Sprintf("%s/%s/%d", m.TaskID, m.JobID, m.Seq))
		}
		if len(marks) < 3 {
			break
		}
	}
	if g, w := strings.Join(got, " "), strings.Join(want, " "); g != w {
		t.Fatalf("Marks:\n got %s\nwant %s", g, w)
	}
	// A repeated batch stores nothing new, and marks nothing.
	if err := w.Append(ctx, "a", "JA", []schemas.LogLine{line(4, "a4"), line(5, "a5")}); err != nil {
		t.Fatal(err)
	}
	if marks, err := r.Marks(ctx, cursor, 10); err != nil || len(marks) != 0 {
		t.Fatalf("Marks after a repeated batch = %+v, %v; want none", marks, err)
	}
	// Later batches come after the cursor.
	if err := w.Append(ctx, "c", "JC", []schemas.LogLine{line(1, "c1")}); err != nil {
		t.Fatal(err)
	}
	marks, err := r.Marks(ctx, cursor, 10)
	if err != nil || len(marks) != 1 || marks[0].TaskID != "c" || marks[0].Seq != 1 {
		t.Fatalf("Marks after %d = %+v, %v; want task c's line", cursor, marks, err)
	}
}

// TestTailOfEarlierVersionsLines: lines an earlier version's supervisor
// stored one per row are tailed, and read with those stored since.
func TestTailOfEarlierVersionsLines(t *testing.T) {
	raw := openDB(t, filepath.Join(t.TempDir(), "deployer.db"))
	l := newLog(t, raw)
	ctx := t.Context()
	for _, r := range []struct {
		task string
		seq  int64
	}{{"a", 1}, {"b", 1}, {"a", 2}} {
		if _, err := raw.ExecContext(ctx, `INSERT INTO task_log (task_id, job_id, seq, time_ms, text) VALUES (?, 'J', ?, ?, ?)`,
			r.task, r.seq, 1700000000000+r.seq, fmt.Sprintf("%s%d", r.task, r.seq)); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := l.Tail(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, fmt.Sprintf("%s/%d/%s", e.TaskID, e.Line.Seq, e.Line.Text))
	}
	if g := strings.Join(got, " "); g != "a/1/a1 b/1/b1 a/2/a2" {
		t.Fatalf("Tail = %s", g)
	}
	// The new version appends the rest of task a as a batch.
	if err := l.Append(ctx, "a", "J", []schemas.LogLine{line(2, "A2"), line(3, "a3")}); err != nil {
		t.Fatal(err)
	}
	lines, err := l.Read(ctx, "a", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, ln := range lines {
		got = append(got, fmt.Sprint(ln.Seq, ln.Text))
	}
	if g := strings.Join(got, ","); g != "1a1,2a2,3a3" {
		t.Fatalf("Read = %s", g)
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

// TestBacklog: Backlog loads the two cursors and says whether batches
// were stored past the marks cursor, or earlier versions' lines past the
// tail cursor, as Marks and Tail would find them.
func TestBacklog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deployer.db")
	raw := openDB(t, path)
	w, r := newLog(t, raw), newLog(t, openDB(t, path))
	ctx := t.Context()
	backlog := func(want sqlitelog.Backlog, when string) {
		t.Helper()
		got, err := r.Backlog(ctx, "marks", "tail")
		if err != nil || got != want {
			t.Fatalf("%s: Backlog = %+v, %v; want %+v", when, got, err, want)
		}
	}
	backlog(sqlitelog.Backlog{}, "an empty log")
	if err := w.Append(ctx, "a", "JA", []schemas.LogLine{line(1, "a1")}); err != nil {
		t.Fatal(err)
	}
	backlog(sqlitelog.Backlog{MarksBehind: true}, "a batch and no cursor saved")
	marks, err := r.Marks(ctx, 0, 10)
	if err != nil || len(marks) != 1 {
		t.Fatalf("Marks = %+v, %v", marks, err)
	}
	mc := marks[0].Cursor
	if err := r.SaveCursor(ctx, "marks", mc); err != nil {
		t.Fatal(err)
	}
	backlog(sqlitelog.Backlog{Marks: mc}, "the marks cursor at the last batch")
	if err := r.SaveCursor(ctx, "other", 0); err != nil {
		t.Fatal(err)
	}
	backlog(sqlitelog.Backlog{Marks: mc}, "another cursor saved")
	if _, err := raw.ExecContext(ctx, `INSERT INTO task_log (task_id, job_id, seq, time_ms, text) VALUES ('b', 'JB', 1, 1700000000000, 'b1')`); err != nil {
		t.Fatal(err)
	}
	backlog(sqlitelog.Backlog{Marks: mc, TailBehind: true}, "an earlier version's line")
	entries, err := r.Tail(ctx, 0, 10)
	if err != nil || len(entries) != 1 {
		t.Fatalf("Tail = %+v, %v", entries, err)
	}
	tc := entries[0].Cursor
	if err := r.SaveCursor(ctx, "tail", tc); err != nil {
		t.Fatal(err)
	}
	backlog(sqlitelog.Backlog{Marks: mc, Tail: tc}, "both cursors at the end")
	if err := w.Append(ctx, "a", "JA", []schemas.LogLine{line(2, "a2")}); err != nil {
		t.Fatal(err)
	}
	backlog(sqlitelog.Backlog{Marks: mc, Tail: tc, MarksBehind: true}, "a batch past the marks cursor")
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

func TestAppendWithCommitsBothOrNeither(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "deployer.db"))
	l := newLog(t, db)
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, `CREATE TABLE counts (task TEXT PRIMARY KEY, n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	line := func(seq int64) []schemas.LogLine {
		return []schemas.LogLine{{Seq: seq, Time: time.UnixMilli(seq).UTC(), Text: fmt.Sprint("line ", seq)}}
	}
	count := func(n int64) func(*sql.Tx) error {
		return func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO counts (task, n) VALUES ('t', ?) ON CONFLICT (task) DO UPDATE SET n = excluded.n`, n)
			return err
		}
	}
	if err := l.AppendWith(ctx, "t", "JOB", line(1), count(1)); err != nil {
		t.Fatal(err)
	}
	failed := errors.New("recording the count failed")
	if err := l.AppendWith(ctx, "t", "JOB", line(2), func(*sql.Tx) error { return failed }); !errors.Is(err, failed) {
		t.Fatalf("AppendWith with a failing with: %v, want %v", err, failed)
	}
	got, err := l.Read(ctx, "t", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := db.QueryRowContext(ctx, `SELECT n FROM counts WHERE task = 't'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Seq != 1 || n != 1 {
		t.Fatalf("lines %+v and count %d; want line 1 alone and 1 (the failed append undone)", got, n)
	}
}

func TestDecodeStopsAtTheLimit(t *testing.T) {
	// Unlike texts are stored as they are, alike ones compressed: both
	// forms stop at the limit.
	for name, alike := range map[string]bool{"plain": false, "compressed": true} {
		var in []schemas.LogLine
		text := func(seq int64) string {
			if alike {
				return fmt.Sprint("line ", seq, strings.Repeat(" and the same again", 20))
			}
			return fmt.Sprintf("line %d %x", seq, sha256.Sum256([]byte{byte(seq)}))
		}
		for seq := int64(1); seq <= 10; seq++ {
			in = append(in, schemas.LogLine{Seq: seq, Time: time.UnixMilli(seq).UTC(), Text: text(seq)})
		}
		data, err := sqlitelog.EncodeLines(in)
		if err != nil {
			t.Fatal(err)
		}
		if compressed := data[0] == 2; compressed != alike {
			t.Fatalf("%s: encoded as version %d", name, data[0])
		}
		for _, tc := range []struct {
			after      int64
			limit      int
			first, end int64 // seqs first..end-1
		}{
			{0, 10, 1, 11}, {3, 4, 4, 8}, {9, 5, 10, 11}, {10, 5, 0, 0}, {0, 1, 1, 2},
		} {
			got, err := sqlitelog.DecodeLinesUpTo(data, tc.after, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if want := max(tc.end-tc.first, 0); int64(len(got)) != want {
				t.Fatalf("%s: after %d, limit %d: %d lines, want %d", name, tc.after, tc.limit, len(got), want)
			}
			for i, l := range got {
				if seq := tc.first + int64(i); l.Seq != seq || l.Text != text(seq) || !l.Time.Equal(time.UnixMilli(seq)) {
					t.Errorf("%s: after %d, limit %d: line %d is %+v, want seq %d", name, tc.after, tc.limit, i, l, seq)
				}
			}
		}
	}
}

// TestBatchesCompressUnlessThatIsNoSmaller: alike lines are stored
// compressed, lines that do not compress as they are, and both decode to
// what was given; batches of either form from the store read back.
func TestBatchesCompressUnlessThatIsNoSmaller(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	noise := func() string {
		b := make([]byte, 200)
		for i := range b {
			b[i] = byte(rnd.IntN(256))
		}
		return string(b)
	}
	for _, tc := range []struct {
		name    string
		text    func(seq int64) string
		version byte
	}{
		{"alike", func(seq int64) string {
			return fmt.Sprintf("module.vpc.aws_subnet.private[%d]: Refreshing state...", seq)
		}, 2},
		{"noise", func(int64) string { return noise() }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in []schemas.LogLine
			for seq := int64(1); seq <= 500; seq++ {
				in = append(in, schemas.LogLine{Seq: seq, Time: time.UnixMilli(seq).UTC(), Text: tc.text(seq)})
			}
			data, err := sqlitelog.EncodeLines(in)
			if err != nil {
				t.Fatal(err)
			}
			if data[0] != tc.version {
				t.Errorf("encoded as version %d, want %d", data[0], tc.version)
			}
			out, err := sqlitelog.DecodeLines(data, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != len(in) {
				t.Fatalf("decoded %d lines, want %d", len(out), len(in))
			}
			for i := range in {
				if out[i].Seq != in[i].Seq || out[i].Text != in[i].Text || !out[i].Time.Equal(in[i].Time) {
					t.Fatalf("line %d decoded as %+v, want %+v", i, out[i], in[i])
				}
			}

			l := tempLog(t)
			if err := l.Append(t.Context(), "t", "J", in); err != nil {
				t.Fatal(err)
			}
			got, err := l.Read(t.Context(), "t", 250, 1000)
			if err != nil || len(got) != 250 || got[0].Text != in[250].Text || got[249].Text != in[499].Text {
				t.Fatalf("read back %d lines, %v", len(got), err)
			}
		})
	}
}

// TestDamagedCompressedBatches: a compressed batch that is cut short, or
// says it holds more than any batch can, is corrupt, read without
// allocating what it claims; a version this one does not know says so.
func TestDamagedCompressedBatches(t *testing.T) {
	var in []schemas.LogLine
	for seq := int64(1); seq <= 100; seq++ {
		in = append(in, schemas.LogLine{Seq: seq, Text: "the same line again"})
	}
	data, err := sqlitelog.EncodeLines(in)
	if err != nil || data[0] != 2 {
		t.Fatalf("encoded as version %d, %v; want 2", data[0], err)
	}
	huge := binary.AppendUvarint([]byte{2}, 1<<40)
	// Whole S2, but the lines in it cut short after the first ones.
	body, err := s2.Decode(nil, data[1:])
	if err != nil {
		t.Fatal(err)
	}
	cutInside := append([]byte{2}, s2.Encode(nil, body[:len(body)-3])...)
	for name, bad := range map[string][]byte{
		"cut short":      data[:len(data)/2],
		"claims a lot":   append(huge, data[1:]...),
		"no body":        {2},
		"future version": append([]byte{3}, data[1:]...),
		"lines cut":      cutInside,
	} {
		lines, err := sqlitelog.DecodeLines(bad, 0)
		if !errors.Is(err, sqlitelog.ErrCorrupt) || len(lines) != 0 {
			t.Errorf("%s: %d lines, %v; want none and a corrupt batch", name, len(lines), err)
		}
		if name == "future version" && (err == nil || !strings.Contains(err.Error(), "unknown encoding 3")) {
			t.Errorf("%s: %v, want it named", name, err)
		}
	}
}

// TestEncodeRefusesAnOversizedBatch: a batch whose lines are more than a
// reader would accept is refused when it is stored, not stored unread.
func TestEncodeRefusesAnOversizedBatch(t *testing.T) {
	big := strings.Repeat("y", sqlitelog.MaxBody/4)
	var in []schemas.LogLine
	for seq := int64(1); seq <= 5; seq++ {
		in = append(in, schemas.LogLine{Seq: seq, Text: big})
	}
	if _, err := sqlitelog.EncodeLines(in); err == nil {
		t.Fatal("a batch over MaxBody was encoded")
	}
	if _, err := sqlitelog.EncodeLines(in[:3]); err != nil {
		t.Fatalf("a batch under MaxBody: %v", err)
	}
}

// FuzzBatchDecoding: whatever a batch's bytes are (a damaged state
// database), decoding ends with lines or an error, never a panic; and
// what encodeLines makes decodes to what it was given.
func FuzzBatchDecoding(f *testing.F) {
	f.Add([]byte("\x01\x01\x80\x80\x04\x00\x05hello"), "hello", int64(3))
	f.Add([]byte{}, "", int64(1))
	alike, _ := sqlitelog.EncodeLines([]schemas.LogLine{
		{Seq: 1, Text: "Refreshing state... Refreshing state..."}, {Seq: 2, Text: "Refreshing state... Refreshing state..."},
	})
	f.Add(alike, "Refreshing state... Refreshing state... Refreshing state...", int64(7))
	f.Fuzz(func(t *testing.T, data []byte, text string, seq int64) {
		_, _ = sqlitelog.DecodeLines(data, 0)
		if seq < 1 {
			return
		}
		code := 3
		in := []schemas.LogLine{
			{Seq: seq, Time: time.UnixMilli(seq).UTC(), Text: text},
			{Seq: seq + 1, Time: time.UnixMilli(-seq).UTC(), Text: text, ID: text},
			{Seq: seq + 2, End: &schemas.LogEnd{Lines: seq + 1, ExitCode: &code, Reason: text}, Time: time.UnixMilli(0).UTC()},
		}
		data, err := sqlitelog.EncodeLines(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := sqlitelog.DecodeLines(data, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 3 || out[0].Text != text || out[1].ID != text || out[1].Time != in[1].Time ||
			out[2].End == nil || out[2].End.Reason != schemas.ValidText(text) || *out[2].End.ExitCode != 3 || out[2].Seq != seq+2 {
			t.Fatalf("decoded %+v, want %+v", out, in)
		}
	})
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
}

// TestWarmWritesNothing: warming (a spare supervisor, waiting for its
// task) commits nothing, so it wakes no waiter and takes no other
// process's turn at the file, and the appends after it work as ever.
func TestWarmWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deployer.db")
	db := openDB(t, path)
	l := newLog(t, db)
	ctx := t.Context()
	// data_version, read on another handle, changes when a commit is
	// made through any other connection.
	other := openDB(t, path)
	version := func() int64 {
		t.Helper()
		var v int64
		if err := other.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := version()
	for range 2 {
		if err := l.Warm(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if after := version(); after != before {
		t.Fatalf("data_version %d after warming, %d before: warming committed", after, before)
	}
	want := []schemas.LogLine{{Seq: 1, Time: time.UnixMilli(1).UTC(), Text: "after warming"}}
	if err := l.Append(ctx, "t", "JOB", want); err != nil {
		t.Fatal(err)
	}
	if version() == before {
		t.Fatal("data_version did not change after an append: the test cannot see commits")
	}
	got, err := l.Read(ctx, "t", 0, 10)
	if err != nil || len(got) != 1 || got[0].Text != want[0].Text {
		t.Fatalf("read %+v, %v; want the line appended after warming", got, err)
	}
}
