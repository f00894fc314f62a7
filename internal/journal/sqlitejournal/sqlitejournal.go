package sqlitejournal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/schemas"
)

var schema = []string{
	`CREATE TABLE IF NOT EXISTS journal_events (
		job_id   TEXT NOT NULL,
		seq      INTEGER NOT NULL,
		event_id TEXT NOT NULL,
		event    BLOB NOT NULL,
		PRIMARY KEY (job_id, seq),
		UNIQUE (job_id, event_id)
	)`,
}

// Options tunes the adapter. The zero value is ready to use.
type Options struct {
	// Logger receives the reasons entries are skipped. Defaults to
	// discarding them.
	Logger *slog.Logger
}

// Journal is the SQLite journal adapter.
type Journal struct {
	db  *sql.DB
	log *slog.Logger
	// stmts holds the statements of an append and of a job's read, each
	// several times per job.
	stmts *sqlitedb.Stmts
}

var _ journal.Journal = (*Journal)(nil)

// New returns the adapter over db, creating its table if needed.
func New(db *sql.DB, opts Options) (*Journal, error) {
	if db == nil {
		return nil, errors.New("sqlitejournal: no database")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := sqlitedb.Migrate(context.Background(), db, schema...); err != nil {
		return nil, fmt.Errorf("sqlitejournal: %w", err)
	}
	return &Journal{db: db, log: opts.Logger, stmts: sqlitedb.NewStmts(db)}, nil
}

// Append records events of jobID in one transaction, after those already
// recorded; events whose ID the job already has are skipped. Every event
// needs an ID.
func (j *Journal) Append(ctx context.Context, jobID string, events ...schemas.JobEvent) error {
	if jobID == "" {
		return errors.New("appending to the journal: no job id")
	}
	if len(events) == 0 {
		return nil
	}
	payloads := make([][]byte, len(events))
	for i, ev := range events {
		if ev.ID == "" {
			return fmt.Errorf("appending to the journal of job %s: event %d (%s) has no id", jobID, i, ev.Type)
		}
		b, err := ev.Encode()
		if err != nil {
			return fmt.Errorf("appending to the journal of job %s: encoding event %s: %w", jobID, ev.ID, err)
		}
		payloads[i] = b
	}
	err := j.stmts.Tx(ctx, func(tx *sql.Tx) error {
		in := j.stmts.On(tx)
		var seq int64
		if err := in.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM journal_events WHERE job_id = ?`,
			jobID).Scan(&seq); err != nil {
			return err
		}
		for i, p := range payloads {
			res, err := in.ExecContext(ctx, `INSERT INTO journal_events (job_id, seq, event_id, event)
				VALUES (?, ?, ?, ?) ON CONFLICT (job_id, event_id) DO NOTHING`, jobID, seq+1, events[i].ID, p)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n > 0 {
				seq++
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("appending %d events to the journal of job %s: %w", len(events), jobID, err)
	}
	return nil
}

// Read returns the job's events in the order they were appended;
// journal.ErrNotFound when it has none.
func (j *Journal) Read(ctx context.Context, jobID string) ([]schemas.JobEvent, error) {
	rows, err := j.stmts.On(nil).QueryContext(ctx, `SELECT seq, event FROM journal_events WHERE job_id = ? ORDER BY seq`, jobID)
	if err != nil {
		return nil, fmt.Errorf("reading the journal of job %s: %w", jobID, err)
	}
	defer func() { _ = rows.Close() }()
	var (
		evs  []schemas.JobEvent
		read int
	)
	for rows.Next() {
		var (
			seq  int64
			data []byte
		)
		if err := rows.Scan(&seq, &data); err != nil {
			return nil, fmt.Errorf("reading the journal of job %s: %w", jobID, err)
		}
		read++
		ev, err := schemas.DecodeJobEvent(data)
		if err != nil {
			j.log.WarnContext(ctx, "skipping undecodable journal entry", "job_id", jobID, "seq", seq, "error", err)
			continue
		}
		evs = append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the journal of job %s: %w", jobID, err)
	}
	if read == 0 {
		return nil, fmt.Errorf("reading the journal of job %s: %w", jobID, journal.ErrNotFound)
	}
	return evs, nil
}

// List returns the keys with events that opts selects, newest first. It
// walks the primary key's index one key at a time (each step the largest
// key below the last), so it reads O(limit) index entries however many
// events each key has and however many keys sort after opts.Before.
func (j *Journal) List(ctx context.Context, opts journal.ListOptions) ([]string, error) {
	upper, bounded := prefixEnd(opts.Prefix)
	if opts.Before != "" && (!bounded || opts.Before < upper) {
		upper, bounded = opts.Before, true
	}
	limit := opts.MaxKeys()
	args := []any{sql.Named("lo", opts.Prefix), sql.Named("n", limit+1)}
	first := `SELECT MAX(job_id) FROM journal_events WHERE job_id >= :lo`
	if bounded {
		first += ` AND job_id < :hi`
		args = append(args, sql.Named("hi", upper))
	}
	q := `WITH RECURSIVE k(id) AS (
		SELECT (` + first + `)
		UNION ALL
		SELECT (SELECT MAX(job_id) FROM journal_events WHERE job_id >= :lo AND job_id < k.id)
		FROM k WHERE k.id IS NOT NULL
		LIMIT :n
	)
	SELECT id FROM k WHERE id IS NOT NULL`
	rows, err := j.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing the journal: %w", err)
	}
	defer func() { _ = rows.Close() }()
	keys := make([]string, 0, min(limit, 64))
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("listing the journal: %w", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing the journal: %w", err)
	}
	return keys[:min(len(keys), limit)], nil
}

// prefixEnd returns the least string greater than every string with the
// given prefix; false when there is none (an empty prefix, or one of only
// 0xff bytes).
func prefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}
