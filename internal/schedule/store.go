package schedule

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/deployerhq/deployer/internal/sqlitedb"
)

var schema = []string{
	// One row per schedule a scheduler has seen. since_ms: no due time at
	// or before it runs (first seen, or resumed).
	`CREATE TABLE IF NOT EXISTS schedule_state (
		schedule     TEXT PRIMARY KEY,
		since_ms     INTEGER NOT NULL,
		paused       INTEGER NOT NULL DEFAULT 0,
		paused_ms    INTEGER NOT NULL DEFAULT 0,
		pause_reason TEXT NOT NULL DEFAULT '',
		failures     INTEGER NOT NULL DEFAULT 0
	)`,
	// One row per claimed due time: the unique key is what makes a fire
	// happen once across schedulers.
	`CREATE TABLE IF NOT EXISTS schedule_fires (
		schedule TEXT NOT NULL,
		due_ms   INTEGER NOT NULL,
		fired_ms INTEGER NOT NULL,
		holder   TEXT NOT NULL,
		job_id   TEXT NOT NULL DEFAULT '',
		status   TEXT NOT NULL,
		outcome  TEXT NOT NULL DEFAULT '',
		error    TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (schedule, due_ms)
	)`,
}

// Fire statuses.
const (
	// StatusClaimed: a scheduler took the due time and has not sent yet
	// (or died before it did).
	StatusClaimed = "claimed"
	// StatusSubmitted: the job request was sent; JobID names it.
	StatusSubmitted = "submitted"
	// StatusSkipped: the previous job had not ended (overlap skip).
	StatusSkipped = "skipped"
	// StatusNotSent: sending failed; Error says why. Counts as a failure.
	StatusNotSent = "not_sent"
)

// ErrUnknownSchedule means the store has nothing of the schedule.
var ErrUnknownSchedule = errors.New("unknown schedule")

// Store is the schedules' state in the embedded backend's database.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// OpenStore returns the store on db (from sqlitedb.Open), creating its
// tables when needed. now defaults to time.Now.
func OpenStore(ctx context.Context, db *sql.DB, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	if err := sqlitedb.Migrate(ctx, db, schema...); err != nil {
		return nil, fmt.Errorf("creating schedule tables: %w", err)
	}
	return &Store{db: db, now: now}, nil
}

// Fire is one claimed due time of a schedule.
type Fire struct {
	Schedule string
	Due      time.Time
	Fired    time.Time
	Holder   string
	JobID    string
	Status   string
	// Outcome is the job's outcome once it ended and was counted.
	Outcome string
	Error   string
}

// State is a schedule's stored state.
type State struct {
	Schedule    string
	Since       time.Time
	Paused      bool
	PausedAt    time.Time
	PauseReason string
	// Failures counts consecutive jobs that did not succeed.
	Failures int
	// Last is the latest fire, if any.
	Last *Fire
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}

// ensure records a schedule the first time it is seen.
func (s *Store) ensure(ctx context.Context, name string) error {
	_, err := sqlitedb.Exec(ctx, s.db, `INSERT INTO schedule_state (schedule, since_ms) VALUES (?, ?) ON CONFLICT DO NOTHING`,
		name, ms(s.now()))
	return err
}

// State returns a schedule's state; a schedule no scheduler has seen yet
// has a zero State (not an error).
func (s *Store) State(ctx context.Context, name string) (State, error) {
	st := State{Schedule: name}
	var since, pausedMS int64
	var paused int
	err := s.db.QueryRowContext(ctx, `SELECT since_ms, paused, paused_ms, pause_reason, failures FROM schedule_state WHERE schedule = ?`, name).
		Scan(&since, &paused, &pausedMS, &st.PauseReason, &st.Failures)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return st, nil
	case err != nil:
		return State{}, fmt.Errorf("reading state of schedule %s: %w", name, err)
	}
	st.Since, st.Paused, st.PausedAt = fromMS(since), paused != 0, fromMS(pausedMS)
	fires, err := s.Fires(ctx, name, 1)
	if err != nil {
		return State{}, err
	}
	if len(fires) > 0 {
		st.Last = &fires[0]
	}
	return st, nil
}

// Fires returns a schedule's latest fires, newest first, at most limit.
func (s *Store) Fires(ctx context.Context, name string, limit int) ([]Fire, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT due_ms, fired_ms, holder, job_id, status, outcome, error FROM schedule_fires
		WHERE schedule = ? ORDER BY due_ms DESC LIMIT ?`, name, limit)
	if err != nil {
		return nil, fmt.Errorf("reading fires of schedule %s: %w", name, err)
	}
	defer rows.Close()
	var out []Fire
	for rows.Next() {
		f := Fire{Schedule: name}
		var due, fired int64
		if err := rows.Scan(&due, &fired, &f.Holder, &f.JobID, &f.Status, &f.Outcome, &f.Error); err != nil {
			return nil, fmt.Errorf("reading fires of schedule %s: %w", name, err)
		}
		f.Due, f.Fired = fromMS(due), fromMS(fired)
		out = append(out, f)
	}
	return out, rows.Err()
}

// Pause pauses a schedule: no scheduler fires it until Resume.
func (s *Store) Pause(ctx context.Context, name, reason string) error {
	if err := s.ensure(ctx, name); err != nil {
		return fmt.Errorf("pausing schedule %s: %w", name, err)
	}
	_, err := sqlitedb.Exec(ctx, s.db, `UPDATE schedule_state SET paused = 1, paused_ms = ?, pause_reason = ? WHERE schedule = ? AND paused = 0`,
		ms(s.now()), reason, name)
	if err != nil {
		return fmt.Errorf("pausing schedule %s: %w", name, err)
	}
	return nil
}

// Resume resumes a schedule and resets its failure count. Due times
// passed while it was paused do not run; the next one does.
func (s *Store) Resume(ctx context.Context, name string) error {
	if err := s.ensure(ctx, name); err != nil {
		return fmt.Errorf("resuming schedule %s: %w", name, err)
	}
	_, err := sqlitedb.Exec(ctx, s.db, `UPDATE schedule_state SET paused = 0, paused_ms = 0, pause_reason = '', failures = 0,
		since_ms = CASE WHEN paused = 1 THEN ? ELSE since_ms END WHERE schedule = ?`, ms(s.now()), name)
	if err != nil {
		return fmt.Errorf("resuming schedule %s: %w", name, err)
	}
	return nil
}
