package sqlitelog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
}

// DefaultLimit is the limit of a Read or Tail asked for none.
const DefaultLimit = 1000

// Options tunes the adapter. The zero value is ready to use; it has no
// knobs yet.
type Options struct{}

// Log is the SQLite task log adapter.
type Log struct {
	db *sql.DB
}

var _ tasklog.Source = (*Log)(nil)

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
	return &Log{db: db}, nil
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
	if _, err := db.ExecContext(ctx, `ALTER TABLE task_log ADD COLUMN end_record TEXT`); err != nil {
		if ok, herr := has(); herr == nil && ok {
			return nil
		}
		return fmt.Errorf("adding the end record column: %w", err)
	}
	return nil
}

// defaultID is the ID of a line stored without one.
func defaultID(taskID string, seq int64) string { return taskID + ":" + strconv.FormatInt(seq, 10) }

// Append stores lines of the task in one transaction. Each line carries
// its Seq (1-based) and is whole (Part 0): the follower and the shippers
// split what is too large for them. The end record (End set) is stored
// like a line. A line whose seq the task already has is skipped, so
// Append is idempotent. An empty ID is stored as "<taskID>:<seq>". Times
// are kept to the millisecond.
func (l *Log) Append(ctx context.Context, taskID, jobID string, lines []schemas.LogLine) error {
	switch {
	case taskID == "":
		return errors.New("appending task log lines: no task id")
	case jobID == "":
		return fmt.Errorf("appending task log lines of task %s: no job id", taskID)
	case len(lines) == 0:
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
	err := sqlitedb.Tx(ctx, l.db, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO task_log (task_id, job_id, seq, event_id, time_ms, text, end_record)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task_id, seq) DO NOTHING`)
		if err != nil {
			return err
		}
		defer func() { _ = stmt.Close() }()
		for _, ln := range lines {
			var id any
			if ln.ID != "" && ln.ID != defaultID(taskID, ln.Seq) {
				id = ln.ID
			}
			var end any
			if ln.End != nil {
				b, err := json.Marshal(ln.End)
				if err != nil {
					return err
				}
				end = string(b)
			}
			if _, err := stmt.ExecContext(ctx, taskID, jobID, ln.Seq, id, ln.Time.UnixMilli(), ln.Text, end); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("appending %d task log lines of task %s: %w", len(lines), taskID, err)
	}
	return nil
}

// Read returns up to limit lines of the task with Seq greater than
// afterSeq, in seq order; tasklog.ErrNotFound when the task has no lines
// at all. A limit below 1 means DefaultLimit.
func (l *Log) Read(ctx context.Context, taskID string, afterSeq int64, limit int) ([]schemas.LogLine, error) {
	if limit < 1 {
		limit = DefaultLimit
	}
	rows, err := l.db.QueryContext(ctx, `SELECT seq, event_id, time_ms, text, end_record FROM task_log
		WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?`, taskID, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("reading task log of task %s: %w", taskID, err)
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
			return nil, fmt.Errorf("reading task log of task %s: %w", taskID, err)
		}
		ln.ID = lineID(taskID, ln.Seq, id)
		ln.Time = time.UnixMilli(timeMS).UTC()
		if ln.End, err = decodeEnd(end); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("reading task log of task %s: line %d: %w", taskID, ln.Seq, err)
		}
		lines = append(lines, ln)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("reading task log of task %s: %w", taskID, err)
	}
	if len(lines) > 0 {
		return lines, nil
	}
	var one int
	err = l.db.QueryRowContext(ctx, `SELECT 1 FROM task_log WHERE task_id = ? LIMIT 1`, taskID).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("reading task log of task %s: %w", taskID, tasklog.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("reading task log of task %s: %w", taskID, err)
	}
	return nil, nil
}

// Tail returns up to limit lines of any task stored after afterCursor, in
// cursor order. Start from 0. A limit below 1 means DefaultLimit.
func (l *Log) Tail(ctx context.Context, afterCursor int64, limit int) ([]Entry, error) {
	if limit < 1 {
		limit = DefaultLimit
	}
	rows, err := l.db.QueryContext(ctx, `SELECT id, task_id, job_id, seq, event_id, time_ms, text, end_record FROM task_log
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

// Count returns how many lines the task has stored, its end record left
// out (0 for an unknown task).
func (l *Log) Count(ctx context.Context, taskID string) (int64, error) {
	var n int64
	if err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM task_log WHERE task_id = ? AND end_record IS NULL`, taskID).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting task log lines of task %s: %w", taskID, err)
	}
	return n, nil
}

// LoadCursor returns the cursor saved under name, or 0 when none is.
func (l *Log) LoadCursor(ctx context.Context, name string) (int64, error) {
	var c int64
	err := l.db.QueryRowContext(ctx, `SELECT value FROM task_log_cursors WHERE name = ?`, name).Scan(&c)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("loading task log cursor %q: %w", name, err)
	}
	return c, nil
}

// SaveCursor saves c under name, replacing what was saved.
func (l *Log) SaveCursor(ctx context.Context, name string, c int64) error {
	if _, err := l.db.ExecContext(ctx, `INSERT INTO task_log_cursors (name, value) VALUES (?, ?)
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
