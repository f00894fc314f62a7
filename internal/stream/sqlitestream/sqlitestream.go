package sqlitestream

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/schemas"
)

// AddressPrefix starts every address this adapter makes.
const AddressPrefix = "sqlite:"

var schema = []string{
	`CREATE TABLE IF NOT EXISTS stream_streams (
		job_id     TEXT PRIMARY KEY,
		created_ms INTEGER NOT NULL,
		expires_ms INTEGER NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS stream_streams_expires ON stream_streams (expires_ms)`,
	`CREATE TABLE IF NOT EXISTS stream_events (
		id     INTEGER PRIMARY KEY AUTOINCREMENT,
		job_id TEXT NOT NULL,
		event  BLOB NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS stream_events_job ON stream_events (job_id, id)`,
}

// Options tunes the adapter. The zero value is ready to use.
type Options struct {
	// PollInterval is how often a waiting subscription looks for events
	// written by other processes. Defaults to 20ms.
	PollInterval time.Duration
	// BatchSize is the most events one Next returns. Defaults to 256.
	BatchSize int
	// Logger receives the reasons entries are skipped. Defaults to
	// discarding them.
	Logger *slog.Logger
	// Now returns the current time, for expiries. Defaults to time.Now.
	Now func() time.Time
}

// Streams is the SQLite job stream adapter.
type Streams struct {
	db   *sql.DB
	opts Options

	mu   sync.Mutex
	wake chan struct{} // closed and replaced after every publish
	// changes wakes waiting subscriptions when another process commits.
	changes *sqlitedb.Changes
	// stmts holds the statements of the hot paths: a publish, and the
	// read every wake-up of a subscription makes.
	stmts *sqlitedb.Stmts
}

var _ stream.Streams = (*Streams)(nil)

// New returns the adapter over db, creating its tables if needed.
func New(db *sql.DB, opts Options) (*Streams, error) {
	if db == nil {
		return nil, errors.New("sqlitestream: no database")
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 20 * time.Millisecond
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 256
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ctx := context.Background()
	if err := sqlitedb.Migrate(ctx, db, schema...); err != nil {
		return nil, fmt.Errorf("sqlitestream: %w", err)
	}
	return &Streams{db: db, opts: opts, wake: make(chan struct{}), changes: sqlitedb.ChangesOf(ctx, db), stmts: sqlitedb.NewStmts(db)}, nil
}

// Address returns the address of jobID's stream, whether or not it exists.
func Address(jobID string) string { return AddressPrefix + jobID }

// parse returns the job id of address.
func parse(address string) (string, error) {
	id, ok := strings.CutPrefix(address, AddressPrefix)
	if !ok || !schemas.ValidJobID(id) {
		return "", fmt.Errorf("%w: %q is not a sqlite stream address", stream.ErrInvalidAddress, address)
	}
	return id, nil
}

// Create makes jobID's stream, or extends the expiry of the existing one
// to at least now+ttl, and returns its address.
func (s *Streams) Create(ctx context.Context, jobID string, ttl time.Duration) (string, error) {
	if !schemas.ValidJobID(jobID) {
		return "", fmt.Errorf("creating stream: %w: %q is not a valid job id", stream.ErrInvalidAddress, jobID)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("creating stream of job %s: ttl %s is not positive", jobID, ttl)
	}
	now := s.opts.Now()
	_, err := s.stmts.On(nil).ExecContext(ctx, `INSERT INTO stream_streams (job_id, created_ms, expires_ms) VALUES (?, ?, ?)
		ON CONFLICT (job_id) DO UPDATE SET expires_ms = max(expires_ms, excluded.expires_ms)`,
		jobID, now.UnixMilli(), now.Add(ttl).UnixMilli())
	if err != nil {
		return "", fmt.Errorf("creating stream of job %s: %w", jobID, err)
	}
	return Address(jobID), nil
}

// Publish appends events to the stream in one transaction, in order.
// Each event is encoded as it is sent (schema set); one larger than
// schemas.MaxMessageSize is refused with schemas.ErrTooLarge and nothing
// is published.
func (s *Streams) Publish(ctx context.Context, address string, events ...schemas.JobEvent) error {
	jobID, err := parse(address)
	if err != nil {
		return fmt.Errorf("publishing: %w", err)
	}
	if len(events) == 0 {
		return nil
	}
	payloads := make([][]byte, len(events))
	for i, ev := range events {
		switch err := ev.Validate(); {
		case err != nil:
			return fmt.Errorf("publishing to stream of job %s: event %q: %w", jobID, ev.ID, err)
		case ev.JobID != jobID:
			return fmt.Errorf("publishing to stream of job %s: event %s is of job %s: %w", jobID, ev.ID, ev.JobID, schemas.ErrMalformed)
		}
		b, err := ev.Encode()
		if err != nil {
			return fmt.Errorf("publishing to stream of job %s: encoding event %s: %w", jobID, ev.ID, err)
		}
		if len(b) > schemas.MaxMessageSize {
			return fmt.Errorf("publishing to stream of job %s: event %s is %d bytes: %w",
				jobID, ev.ID, len(b), schemas.ErrTooLarge)
		}
		payloads[i] = b
	}
	err = s.stmts.Tx(ctx, func(tx *sql.Tx) error {
		in := s.stmts.On(tx)
		if err := exists(ctx, in, jobID); err != nil {
			return err
		}
		for _, p := range payloads {
			if _, err := in.ExecContext(ctx, `INSERT INTO stream_events (job_id, event) VALUES (?, ?)`, jobID, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("publishing %d events to stream of job %s: %w", len(events), jobID, err)
	}
	sqlitedb.AfterCommit(ctx, s.db, s.notify)
	return nil
}

// Subscribe opens a reader of the stream from its first event.
func (s *Streams) Subscribe(ctx context.Context, address string) (stream.Subscription, error) {
	jobID, err := parse(address)
	if err != nil {
		return nil, fmt.Errorf("subscribing: %w", err)
	}
	if err := exists(ctx, s.stmts.On(nil), jobID); err != nil {
		return nil, fmt.Errorf("subscribing to stream of job %s: %w", jobID, err)
	}
	return &Subscription{s: s, jobID: jobID}, nil
}

// Delete removes the stream and its events.
func (s *Streams) Delete(ctx context.Context, address string) error {
	jobID, err := parse(address)
	if err != nil {
		return fmt.Errorf("deleting stream: %w", err)
	}
	err = s.stmts.Tx(ctx, func(tx *sql.Tx) error {
		n, err := deleteStreams(ctx, tx, `job_id = ?`, jobID)
		if err == nil && n == 0 {
			err = stream.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("deleting stream of job %s: %w", jobID, err)
	}
	sqlitedb.AfterCommit(ctx, s.db, s.notify) // waiting subscriptions find out at once
	return nil
}

// DeleteExpired removes the streams whose expiry is at or before now.
func (s *Streams) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := s.stmts.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = deleteStreams(ctx, tx, `expires_ms <= ?`, now.UnixMilli())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("deleting expired streams: %w", err)
	}
	if n > 0 {
		sqlitedb.AfterCommit(ctx, s.db, s.notify)
	}
	return int(n), nil
}

// deleteStreams removes the streams matching where, and their events.
func deleteStreams(ctx context.Context, tx *sql.Tx, where string, arg any) (int64, error) {
	// where is one of this file's constant conditions, never input.
	events := `DELETE FROM stream_events WHERE job_id IN (SELECT job_id FROM stream_streams WHERE ` + where + `)` //nolint:gosec // constant condition
	streams := `DELETE FROM stream_streams WHERE ` + where                                                        //nolint:gosec // constant condition
	if _, err := tx.ExecContext(ctx, events, arg); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, streams, arg)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// exists returns stream.ErrNotFound when jobID has no stream.
func exists(ctx context.Context, q queryer, jobID string) error {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM stream_streams WHERE job_id = ?`, jobID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return stream.ErrNotFound
	}
	return err
}

// notify wakes the subscriptions waiting in this process.
func (s *Streams) notify() {
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

func (s *Streams) waker() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wake
}

// Subscription reads one stream from its first event, keeping a rowid
// cursor. It is not safe for concurrent use.
type Subscription struct {
	s      *Streams
	jobID  string
	cursor int64
	closed bool
	// watcher wakes the waits of Next on other processes' commits, from
	// the first Next that waits until Close.
	watcher *sqlitedb.Watcher
}

var _ stream.Subscription = (*Subscription)(nil)

// errClosed reports a Next after Close.
var errClosed = errors.New("subscription closed")

// Next returns the events published after the last ones it returned,
// waiting up to wait for some. It returns stream.ErrNotFound once the
// stream is deleted, and ctx's error when ctx ends first.
func (sub *Subscription) Next(ctx context.Context, wait time.Duration) ([]schemas.JobEvent, error) {
	if sub.closed {
		return nil, fmt.Errorf("reading stream of job %s: %w", sub.jobID, errClosed)
	}
	var (
		deadline <-chan time.Time
		ticker   *time.Ticker
	)
	if wait > 0 && sub.watcher == nil {
		// Held until Close: a follower calls Next again and again.
		sub.watcher = sub.s.changes.Watch()
	}
	for {
		// Both before reading, so no publish is missed: one of this
		// process, or a commit of another.
		wake := sub.s.waker()
		var changed <-chan struct{}
		if sub.watcher != nil {
			changed = sub.watcher.Next()
		}
		evs, err := sub.poll(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("reading stream of job %s: %w", sub.jobID, err)
		}
		if len(evs) > 0 {
			return evs, nil
		}
		if wait <= 0 {
			return nil, nil
		}
		if ticker == nil {
			timer := time.NewTimer(wait)
			defer timer.Stop()
			deadline = timer.C
			// Commits wake the wait: the poll is a safety net.
			ticker = time.NewTicker(sub.watcher.Poll(sub.s.opts.PollInterval))
			defer ticker.Stop()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline:
			return nil, nil
		case <-wake:
		case <-changed:
		case <-ticker.C:
		}
	}
}

// poll reads the events after the cursor, skipping (and logging) those
// that do not decode, and says when the stream is gone: one read, whose
// rows are the stream's (none when it does not exist) joined with its
// events after the cursor (one row of NULLs when it has none). Most
// polls are of a follower woken by another job's commit, and find
// nothing.
func (sub *Subscription) poll(ctx context.Context) ([]schemas.JobEvent, error) {
	for {
		rows, err := sub.s.stmts.On(nil).QueryContext(ctx, `SELECT e.id, e.event FROM stream_streams s
			LEFT JOIN stream_events e ON e.job_id = s.job_id AND e.id > ?
			WHERE s.job_id = ? ORDER BY e.id LIMIT ?`, sub.cursor, sub.jobID, sub.s.opts.BatchSize)
		if err != nil {
			return nil, err
		}
		var (
			evs    []schemas.JobEvent
			read   int
			exists bool
		)
		for rows.Next() {
			exists = true
			var (
				id   sql.NullInt64
				data []byte
			)
			if err := rows.Scan(&id, &data); err != nil {
				_ = rows.Close()
				return nil, err
			}
			if !id.Valid {
				break // the stream, with no events after the cursor
			}
			read++
			sub.cursor = id.Int64
			ev, err := schemas.DecodeJobEvent(data)
			if err != nil {
				sub.s.opts.Logger.WarnContext(ctx, "skipping undecodable stream entry",
					"job_id", sub.jobID, "rowid", id.Int64, "error", err)
				continue
			}
			evs = append(evs, ev)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		switch {
		case !exists:
			return nil, stream.ErrNotFound
		case len(evs) > 0:
			return evs, nil
		case read == 0:
			return nil, nil
		}
		// A whole batch was skipped: read on.
	}
}

// HiddenUntil is always the zero time: a read is a query of the state
// database, whose answer is never lost, and it hides nothing (the stream
// is replayable).
func (sub *Subscription) HiddenUntil() time.Time { return time.Time{} }

// Close releases the subscription; Next fails after it. It is idempotent.
func (sub *Subscription) Close() error {
	sub.closed = true
	if sub.watcher != nil {
		sub.watcher.Close()
	}
	return nil
}
