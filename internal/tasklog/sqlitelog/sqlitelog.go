package sqlitelog

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/internal/tasklog"
	"github.com/deployerhq/deployer/schemas"
)

var schema = []string{
	// event_id is NULL when it is the default, "<task_id>:<seq>".
	`CREATE TABLE IF NOT EXISTS task_log (
		id       INTEGER PRIMARY KEY AUTOINCREMENT,
		task_id  TEXT NOT NULL,
		job_id   TEXT NOT NULL,
		seq      INTEGER NOT NULL,
		event_id TEXT,
		time_ms  INTEGER NOT NULL,
		text     TEXT NOT NULL,
		-- end_record is the JSON of the schemas.LogEnd of the log's end
		-- record; NULL on lines.
		end_record TEXT,
		UNIQUE (task_id, seq)
	)`,
	`CREATE TABLE IF NOT EXISTS task_log_cursors (
		name  TEXT PRIMARY KEY,
		value INTEGER NOT NULL
	)`,
	// A batch of a task's lines in one row: first_seq..last_seq (the
	// batches of a task never overlap), the lines encoded by encodeLines.
	// One row per batch, not per line: a line costs an append to a blob,
	// not a row of its own.
	`CREATE TABLE IF NOT EXISTS task_log_batches (
		id        INTEGER PRIMARY KEY AUTOINCREMENT,
		task_id   TEXT NOT NULL,
		job_id    TEXT NOT NULL,
		first_seq INTEGER NOT NULL,
		last_seq  INTEGER NOT NULL,
		lines     BLOB NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS task_log_batches_task ON task_log_batches (task_id, last_seq)`,
}

// DefaultLimit is the limit of a Read or Tail asked for none.
const DefaultLimit = 1000

// Options tunes the adapter. The zero value is ready to use; it has no
// knobs yet.
type Options struct{}

// Log is the SQLite task log adapter.
type Log struct {
	db    *sql.DB
	stmts *sqlitedb.Stmts
}

var _ tasklog.Appender = (*Log)(nil)

// Entry is a line of Tail.
type Entry struct {
	// Cursor is the line's position among all stored lines; it grows with
	// every line stored and is what Tail resumes after.
	Cursor int64
	TaskID string
	JobID  string
	Line   schemas.LogLine
}

// New returns the adapter over db, creating its tables if needed.
func New(db *sql.DB, _ Options) (*Log, error) {
	if db == nil {
		return nil, errors.New("sqlitelog: no database")
	}
	if err := sqlitedb.Migrate(context.Background(), db, schema...); err != nil {
		return nil, fmt.Errorf("sqlitelog: %w", err)
	}
	if err := addEndColumn(context.Background(), db); err != nil {
		return nil, fmt.Errorf("sqlitelog: %w", err)
	}
	return &Log{db: db, stmts: sqlitedb.NewStmts(db)}, nil
}

// addEndColumn adds the column of end records to a task log table made
// before they existed. Two processes may race to add it: the loser finds
// it there.
func addEndColumn(ctx context.Context, db *sql.DB) error {
	has := func() (bool, error) {
		var n int
		err := db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('task_log') WHERE name = 'end_record'`).Scan(&n)
		return n > 0, err
	}
	ok, err := has()
	if err != nil || ok {
		return err
	}
	if _, err := sqlitedb.Exec(ctx, db, `ALTER TABLE task_log ADD COLUMN end_record TEXT`); err != nil {
		if ok, herr := has(); herr == nil && ok {
			return nil
		}
		return fmt.Errorf("adding the end record column: %w", err)
	}
	return nil
}

// defaultID is the ID of a line stored without one.
func defaultID(taskID string, seq int64) string { return taskID + ":" + strconv.FormatInt(seq, 10) }

// setDefaultIDs gives each of lines stored without an ID its defaultID,
// all of them slices of one strings.Builder's string: a read of
// thousands of lines makes one allocation for their IDs rather than one
// each.
func setDefaultIDs(taskID string, lines []schemas.LogLine) {
	var (
		ids strings.Builder
		seq [20]byte
	)
	for i := range lines {
		if lines[i].ID != "" {
			continue
		}
		if ids.Cap() == 0 {
			ids.Grow((len(lines) - i) * (len(taskID) + 8))
		}
		at := ids.Len()
		ids.WriteString(taskID)
		ids.WriteByte(':')
		_, _ = ids.Write(strconv.AppendInt(seq[:0], lines[i].Seq, 10))
		lines[i].ID = ids.String()[at:]
	}
}

// Append stores lines of the task in one transaction, as one batch. Each
// line carries its Seq (1-based) and is whole (Part 0): the follower and
// the shippers split what is too large for them. The end record (End set)
// is stored like a line. A line whose seq the task already has is
// skipped (the first of a call wins too), so Append is idempotent and
// takes lines in any order. An empty ID is stored as "<taskID>:<seq>".
// Times are kept to the millisecond.
func (l *Log) Append(ctx context.Context, taskID, jobID string, lines []schemas.LogLine) error {
	return l.AppendWith(ctx, taskID, jobID, lines, nil)
}

// The statements of an append, in the order it runs them.
const (
	qLegacySeqs  = `SELECT seq FROM task_log WHERE task_id = ? AND seq BETWEEN ? AND ?`
	qOverlapping = `SELECT id, lines FROM task_log_batches WHERE task_id = ? AND last_seq >= ? AND first_seq <= ?`
	qInsertBatch = `INSERT INTO task_log_batches (task_id, job_id, first_seq, last_seq, lines) VALUES (?, ?, ?, ?, ?)`
)

// Warm readies the process for its first append, writing nothing: the
// statements of an append are prepared, its reads run once (for no
// task) and a batch is encoded. A process's first append otherwise runs
// that code of SQLite's and the encoder's for the first time, ~0.5 ms
// more; a spare supervisor warms while it waits for its task.
func (l *Log) Warm(ctx context.Context) error {
	for _, q := range []string{qLegacySeqs, qOverlapping} {
		rows, err := l.stmts.On(nil).QueryContext(ctx, q, "", 1, 0)
		if err != nil {
			return fmt.Errorf("warming the task log: %w", err)
		}
		for rows.Next() { // none: no task has the empty id
		}
		if err := closeRows(rows); err != nil {
			return fmt.Errorf("warming the task log: %w", err)
		}
	}
	if _, err := l.stmts.Get(ctx, qInsertBatch); err != nil {
		return fmt.Errorf("warming the task log: %w", err)
	}
	if _, err := encodeLines([]schemas.LogLine{{Seq: 1, Text: "warm"}}); err != nil {
		return fmt.Errorf("warming the task log: %w", err)
	}
	return nil
}

// AppendWith is Append with more work in the same transaction: with
// (when not nil) runs after the lines are stored, and its error undoes
// them. A supervisor records how many lines are stored with the lines
// themselves, in one commit instead of two.
func (l *Log) AppendWith(ctx context.Context, taskID, jobID string, lines []schemas.LogLine, with func(*sql.Tx) error) error {
	switch {
	case taskID == "":
		return errors.New("appending task log lines: no task id")
	case jobID == "":
		return fmt.Errorf("appending task log lines of task %s: no job id", taskID)
	case len(lines) == 0 && with == nil:
		return nil
	}
	for i, ln := range lines {
		if ln.Seq < 1 {
			return fmt.Errorf("appending task log lines of task %s: line %d has seq %d, want at least 1", taskID, i, ln.Seq)
		}
		if ln.Part != 0 {
			return fmt.Errorf("appending task log lines of task %s: line %d is part %d of seq %d; store whole lines", taskID, i, ln.Part, ln.Seq)
		}
	}
	lines = inOrder(taskID, lines)
	err := l.stmts.Tx(ctx, func(tx *sql.Tx) error {
		if len(lines) > 0 {
			if err := l.appendBatch(ctx, tx, taskID, jobID, lines); err != nil {
				return err
			}
		}
		if with != nil {
			return with(tx)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("appending %d task log lines of task %s: %w", len(lines), taskID, err)
	}
	return nil
}

// inOrder returns lines sorted by seq, the first of each seq kept, with
// the default ID left empty. A supervisor's batch is in order already and
// is returned as it is.
func inOrder(taskID string, lines []schemas.LogLine) []schemas.LogLine {
	sorted := true
	for i := 1; i < len(lines) && sorted; i++ {
		sorted = lines[i].Seq > lines[i-1].Seq
	}
	if !sorted {
		lines = slices.Clone(lines)
		slices.SortStableFunc(lines, func(a, b schemas.LogLine) int { return cmp.Compare(a.Seq, b.Seq) })
		lines = slices.CompactFunc(lines, func(a, b schemas.LogLine) bool { return a.Seq == b.Seq })
	}
	cloned := !sorted
	for i := range lines {
		if lines[i].ID != "" && lines[i].ID == defaultID(taskID, lines[i].Seq) {
			if !cloned {
				lines, cloned = slices.Clone(lines), true
			}
			lines[i].ID = ""
		}
	}
	return lines
}

// appendBatch stores lines (in seq order, one per seq) as a batch, keeping
// the task's batches apart: the lines a batch overlapping theirs holds
// win, and the two become one batch. Seqs in the per-line table of
// earlier versions are skipped.
func (l *Log) appendBatch(ctx context.Context, tx *sql.Tx, taskID, jobID string, lines []schemas.LogLine) error {
	first, last := lines[0].Seq, lines[len(lines)-1].Seq
	old, err := l.legacySeqs(ctx, tx, taskID, first, last)
	if err != nil {
		return err
	}
	if len(old) > 0 {
		lines = slices.DeleteFunc(slices.Clone(lines), func(ln schemas.LogLine) bool { return old[ln.Seq] })
		if len(lines) == 0 {
			return nil
		}
		first, last = lines[0].Seq, lines[len(lines)-1].Seq
	}
	rows, err := l.stmts.On(tx).QueryContext(ctx, qOverlapping, taskID, first, last)
	if err != nil {
		return err
	}
	var (
		ids    []int64
		stored []schemas.LogLine
	)
	for rows.Next() {
		var (
			id   int64
			data []byte
		)
		if err := rows.Scan(&id, &data); err != nil {
			_ = rows.Close()
			return err
		}
		ls, err := decodeLines(data, 0, math.MaxInt, nil)
		if err != nil {
			_ = rows.Close()
			return fmt.Errorf("batch %d: %w", id, err)
		}
		ids, stored = append(ids, id), append(stored, ls...)
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	if len(ids) > 0 {
		// Rare (a batch retried, lines given out of order): what is
		// stored stays; new lines, if any, join it in one batch.
		have := make(map[int64]bool, len(stored))
		for _, ln := range stored {
			have[ln.Seq] = true
		}
		if !slices.ContainsFunc(lines, func(ln schemas.LogLine) bool { return !have[ln.Seq] }) {
			return nil
		}
		lines = inOrder(taskID, append(stored, lines...))
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `DELETE FROM task_log_batches WHERE id = ?`, id); err != nil {
				return err
			}
		}
	}
	data, err := encodeLines(lines)
	if err != nil {
		return err
	}
	_, err = l.stmts.On(tx).ExecContext(ctx, qInsertBatch, taskID, jobID, lines[0].Seq, lines[len(lines)-1].Seq, data)
	return err
}

// legacySeqs returns the seqs first..last of the task in the per-line
// table of earlier versions (a task an earlier supervisor began).
func (l *Log) legacySeqs(ctx context.Context, tx *sql.Tx, taskID string, first, last int64) (map[int64]bool, error) {
	rows, err := l.stmts.On(tx).QueryContext(ctx, qLegacySeqs, taskID, first, last)
	if err != nil {
		return nil, err
	}
	var seqs map[int64]bool
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			_ = rows.Close()
			return nil, err
		}
		if seqs == nil {
			seqs = map[int64]bool{}
		}
		seqs[seq] = true
	}
	return seqs, closeRows(rows)
}

// Read returns up to limit lines of the task with Seq greater than
// afterSeq, in seq order; tasklog.ErrNotFound when the task has no lines
// at all. A limit below 1 means DefaultLimit.
func (l *Log) Read(ctx context.Context, taskID string, afterSeq int64, limit int) ([]schemas.LogLine, error) {
	return l.ReadAppend(ctx, taskID, afterSeq, limit, nil)
}

// ReadAppend appends to dst what Read returns, and returns the extended
// slice; dst as it was, with the error, when the read fails (see
// tasklog.Appender).
func (l *Log) ReadAppend(ctx context.Context, taskID string, afterSeq int64, limit int, dst []schemas.LogLine) ([]schemas.LogLine, error) {
	if limit < 1 {
		limit = DefaultLimit
	}
	base := len(dst)
	lines, err := l.readBatches(ctx, taskID, afterSeq, limit, dst)
	if err != nil {
		return dst, fmt.Errorf("reading task log of task %s: %w", taskID, err)
	}
	old, err := l.readLegacy(ctx, taskID, afterSeq, limit)
	if err != nil {
		return dst, fmt.Errorf("reading task log of task %s: %w", taskID, err)
	}
	if len(old) > 0 {
		// A task an earlier version's supervisor began.
		lines = append(lines, old...)
		slices.SortFunc(lines[base:], func(a, b schemas.LogLine) int { return cmp.Compare(a.Seq, b.Seq) })
		lines = lines[:min(len(lines), base+limit)]
	}
	if len(lines) > base {
		return lines, nil
	}
	var one int
	err = l.db.QueryRowContext(ctx, `SELECT 1 FROM task_log_batches WHERE task_id = ?
		UNION ALL SELECT 1 FROM task_log WHERE task_id = ? LIMIT 1`, taskID, taskID).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return dst, fmt.Errorf("reading task log of task %s: %w", taskID, tasklog.ErrNotFound)
	case err != nil:
		return dst, fmt.Errorf("reading task log of task %s: %w", taskID, err)
	}
	return dst, nil
}

// readBatches appends to dst up to limit lines after afterSeq from the
// task's batches.
func (l *Log) readBatches(ctx context.Context, taskID string, afterSeq int64, limit int, dst []schemas.LogLine) ([]schemas.LogLine, error) {
	rows, err := l.stmts.On(nil).QueryContext(ctx, `SELECT id, first_seq, last_seq, lines FROM task_log_batches
		WHERE task_id = ? AND last_seq > ? ORDER BY last_seq`, taskID, afterSeq)
	if err != nil {
		return nil, err
	}
	lines, base := dst, len(dst)
	limit += base // decodeLines counts the lines of its out
	for len(lines) < limit && rows.Next() {
		var (
			id, first, last int64
			data            sql.RawBytes // decodeLines copies what it keeps
		)
		if err := rows.Scan(&id, &first, &last, &data); err != nil {
			_ = rows.Close()
			return nil, err
		}
		// Room for the batch's lines read, at once: growing the slice
		// line by line was half of a large read's time.
		if n := last - max(first-1, afterSeq); n > 0 {
			lines = slices.Grow(lines, int(min(n, int64(limit-len(lines)))))
		}
		if lines, err = decodeLines(data, afterSeq, limit, lines); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("batch %d: %w", id, err)
		}
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	lines = lines[:min(len(lines), limit)]
	setDefaultIDs(taskID, lines[base:])
	return lines, nil
}

// readLegacy returns up to limit lines after afterSeq from the per-line
// table of earlier versions.
func (l *Log) readLegacy(ctx context.Context, taskID string, afterSeq int64, limit int) ([]schemas.LogLine, error) {
	rows, err := l.stmts.On(nil).QueryContext(ctx, `SELECT seq, event_id, time_ms, text, end_record FROM task_log
		WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?`, taskID, afterSeq, limit)
	if err != nil {
		return nil, err
	}
	var lines []schemas.LogLine
	for rows.Next() {
		var (
			ln     schemas.LogLine
			id     sql.NullString
			end    sql.NullString
			timeMS int64
		)
		if err := rows.Scan(&ln.Seq, &id, &timeMS, &ln.Text, &end); err != nil {
			_ = rows.Close()
			return nil, err
		}
		ln.ID = lineID(taskID, ln.Seq, id)
		ln.Time = time.UnixMilli(timeMS).UTC()
		if ln.End, err = decodeEnd(end); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("line %d: %w", ln.Seq, err)
		}
		lines = append(lines, ln)
	}
	return lines, closeRows(rows)
}

// Mark says that a task's log holds lines up to Seq: a batch was stored.
type Mark struct {
	// Cursor is the batch's position among all stored batches; it grows
	// with every batch stored and is what Marks resumes after.
	Cursor int64
	TaskID string
	JobID  string
	Seq    int64
}

// Marks returns up to limit marks of any task's batches stored after
// afterCursor, in cursor order. Start from 0. A limit below 1 means
// DefaultLimit.
func (l *Log) Marks(ctx context.Context, afterCursor int64, limit int) ([]Mark, error) {
	if limit < 1 {
		limit = DefaultLimit
	}
	rows, err := l.stmts.On(nil).QueryContext(ctx, `SELECT id, task_id, job_id, last_seq FROM task_log_batches
		WHERE id > ? ORDER BY id LIMIT ?`, afterCursor, limit)
	if err != nil {
		return nil, fmt.Errorf("reading task log marks: %w", err)
	}
	var marks []Mark
	for rows.Next() {
		var m Mark
		if err := rows.Scan(&m.Cursor, &m.TaskID, &m.JobID, &m.Seq); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("reading task log marks: %w", err)
		}
		marks = append(marks, m)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("reading task log marks: %w", err)
	}
	return marks, nil
}

// Tail returns up to limit lines of any task stored after afterCursor in
// the per-line table of earlier versions (a task an earlier version's
// supervisor still runs), in cursor order. Start from 0. A limit below 1
// means DefaultLimit. Batches are followed by Marks.
func (l *Log) Tail(ctx context.Context, afterCursor int64, limit int) ([]Entry, error) {
	if limit < 1 {
		limit = DefaultLimit
	}
	rows, err := l.stmts.On(nil).QueryContext(ctx, `SELECT id, task_id, job_id, seq, event_id, time_ms, text, end_record FROM task_log
		WHERE id > ? ORDER BY id LIMIT ?`, afterCursor, limit)
	if err != nil {
		return nil, fmt.Errorf("tailing task logs: %w", err)
	}
	var entries []Entry
	for rows.Next() {
		var (
			e      Entry
			id     sql.NullString
			end    sql.NullString
			timeMS int64
		)
		if err := rows.Scan(&e.Cursor, &e.TaskID, &e.JobID, &e.Line.Seq, &id, &timeMS, &e.Line.Text, &end); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("tailing task logs: %w", err)
		}
		if e.Line.End, err = decodeEnd(end); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("tailing task logs: task %s line %d: %w", e.TaskID, e.Line.Seq, err)
		}
		e.Line.ID = lineID(e.TaskID, e.Line.Seq, id)
		e.Line.Time = time.UnixMilli(timeMS).UTC()
		entries = append(entries, e)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("tailing task logs: %w", err)
	}
	return entries, nil
}

// decodeEnd decodes a stored end record; nil for a line.
func decodeEnd(s sql.NullString) (*schemas.LogEnd, error) {
	if !s.Valid {
		return nil, nil
	}
	var end schemas.LogEnd
	if err := json.Unmarshal([]byte(s.String), &end); err != nil {
		return nil, fmt.Errorf("decoding the end record: %w", err)
	}
	return &end, nil
}

// Backlog is where a tailer of the log stands (see Log.Backlog).
type Backlog struct {
	// Marks and Tail are the cursors saved under the names asked for (0
	// when none is).
	Marks, Tail int64
	// MarksBehind and TailBehind say whether batches were stored past
	// Marks (as Marks reads them), and earlier versions' lines past Tail
	// (as Tail reads them).
	MarksBehind, TailBehind bool
}

// Backlog loads the cursors saved under marks and tail and says whether
// anything lies past either, in one read: a tailer woken by every commit
// to the state database, most of them not the log's, looks with it, and
// reads on only past a cursor that is behind.
func (l *Log) Backlog(ctx context.Context, marks, tail string) (Backlog, error) {
	var b Backlog
	err := l.stmts.On(nil).QueryRowContext(ctx, `SELECT m.c, t.c,
			EXISTS (SELECT 1 FROM task_log_batches WHERE id > m.c),
			EXISTS (SELECT 1 FROM task_log WHERE id > t.c)
		FROM (SELECT coalesce((SELECT value FROM task_log_cursors WHERE name = ?), 0) AS c) m,
			(SELECT coalesce((SELECT value FROM task_log_cursors WHERE name = ?), 0) AS c) t`,
		marks, tail).Scan(&b.Marks, &b.Tail, &b.MarksBehind, &b.TailBehind)
	if err != nil {
		return Backlog{}, fmt.Errorf("loading task log cursors %q and %q: %w", marks, tail, err)
	}
	return b, nil
}

// LoadCursor returns the cursor saved under name, or 0 when none is.
func (l *Log) LoadCursor(ctx context.Context, name string) (int64, error) {
	var c int64
	err := l.stmts.On(nil).QueryRowContext(ctx, `SELECT value FROM task_log_cursors WHERE name = ?`, name).Scan(&c)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("loading task log cursor %q: %w", name, err)
	}
	return c, nil
}

// SaveCursor saves c under name, replacing what was saved.
func (l *Log) SaveCursor(ctx context.Context, name string, c int64) error {
	if _, err := l.stmts.On(nil).ExecContext(ctx, `INSERT INTO task_log_cursors (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, c); err != nil {
		return fmt.Errorf("saving task log cursor %q: %w", name, err)
	}
	return nil
}

func lineID(taskID string, seq int64, id sql.NullString) string {
	if id.Valid {
		return id.String
	}
	return defaultID(taskID, seq)
}

func closeRows(rows *sql.Rows) error {
	if err := rows.Close(); err != nil {
		return err
	}
	return rows.Err()
}
