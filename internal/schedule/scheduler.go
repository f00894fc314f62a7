package schedule

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/internal/schedule/cronspec"
	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// Jobs is what the scheduler needs of a backend.
type Jobs interface {
	// Submit sends r (its JobID set) as the schedule's caller.
	Submit(ctx context.Context, schedule string, r producer.Request) error
	// Cancel asks the gatekeeper, as the schedule's caller, to cancel a
	// job the schedule started.
	Cancel(ctx context.Context, schedule, jobID, reason string) error
	// Job summarizes a job from the journal; journal.ErrNotFound when
	// nothing has handled it yet.
	Job(ctx context.Context, jobID string) (producer.JobSummary, error)
}

// Options tune a Scheduler.
type Options struct {
	// Now returns the current time. Defaults to time.Now; tests pass a
	// fake clock and call Tick.
	Now func() time.Time
	// Every is how often Run looks for due schedules. Defaults to
	// DefaultEvery; one second suits the seconds fields of tests.
	Every time.Duration
	// Holder names this scheduler in claims. Defaults to "pid N".
	Holder string
	// CancelTimeout bounds the wait for the gatekeeper's answer to a
	// cancel-previous. Defaults to 30s.
	CancelTimeout time.Duration
	Logger        *slog.Logger
}

// DefaultEvery is how often a scheduler looks for due schedules.
const DefaultEvery = time.Second

// lostAfter is how long a sent job may stay unknown to the journal before
// overlap stops waiting for it: a request that never reached the
// gatekeeper would otherwise block a skip schedule for ever.
const lostAfter = 15 * time.Minute

// Scheduler fires schedules; see the package documentation.
type Scheduler struct {
	store *Store
	jobs  Jobs
	opts  Options

	mu    sync.Mutex
	specs map[string]entry
}

type entry struct {
	cfg  schemas.Schedule
	spec cronspec.Spec
}

// New returns a scheduler of the schedules on db's store. Schedules must
// have passed the configuration's validation; one that does not parse is
// an error.
func New(ctx context.Context, db *sql.DB, schedules map[string]schemas.Schedule, jobs Jobs, opts Options) (*Scheduler, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Every <= 0 {
		opts.Every = DefaultEvery
	}
	if opts.Holder == "" {
		opts.Holder = fmt.Sprintf("pid %d", os.Getpid())
	}
	if opts.CancelTimeout <= 0 {
		opts.CancelTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	store, err := OpenStore(ctx, db, opts.Now)
	if err != nil {
		return nil, err
	}
	s := &Scheduler{store: store, jobs: jobs, opts: opts}
	if err := s.SetSchedules(schedules); err != nil {
		return nil, err
	}
	return s, nil
}

// SetSchedules replaces the schedules fired from the next Tick on (a
// configuration reload). State of a schedule kept by name is kept.
func (s *Scheduler) SetSchedules(schedules map[string]schemas.Schedule) error {
	specs := make(map[string]entry, len(schedules))
	var errs []error
	for name, c := range schedules {
		sp, err := cronspec.Parse(c.Cron, c.TimeZone)
		if err != nil {
			errs = append(errs, fmt.Errorf("schedule %s: %w", name, err))
			continue
		}
		specs[name] = entry{cfg: c, spec: sp}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.mu.Lock()
	s.specs = specs
	s.mu.Unlock()
	return nil
}

// Store is the scheduler's state store.
func (s *Scheduler) Store() *Store { return s.store }

// Run ticks every Options.Every until ctx ends. A failed tick is logged
// and the next one tries again.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.Every)
	defer t.Stop()
	for {
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.opts.Logger.Warn("schedules", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick counts the outcomes of ended jobs, pauses schedules that failed
// too often, and fires what is due now. It returns the errors of every
// schedule joined; one schedule's failure does not hold the others up.
func (s *Scheduler) Tick(ctx context.Context) error {
	s.mu.Lock()
	specs := s.specs
	s.mu.Unlock()
	names := make([]string, 0, len(specs))
	for n := range specs {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		if err := s.tickOne(ctx, name, specs[name]); err != nil {
			errs = append(errs, fmt.Errorf("schedule %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Scheduler) tickOne(ctx context.Context, name string, e entry) error {
	if err := s.store.ensure(ctx, name); err != nil {
		return err
	}
	if err := s.settle(ctx, name, e.cfg.PauseAfterFailures); err != nil {
		return err
	}
	fire, err := s.claim(ctx, name, e.spec)
	if err != nil || fire == nil {
		return err
	}
	return s.fire(ctx, name, e.cfg, *fire)
}

// settle counts the outcomes of the schedule's sent jobs that ended, in
// due-time order, each once, and pauses the schedule when the failures in
// a row reach pauseAfter (0: never).
func (s *Scheduler) settle(ctx context.Context, name string, pauseAfter int) error {
	rows, err := s.store.db.QueryContext(ctx, `SELECT due_ms, job_id, status FROM schedule_fires
		WHERE schedule = ? AND outcome = '' AND status IN (?, ?) ORDER BY due_ms`, name, StatusSubmitted, StatusNotSent)
	if err != nil {
		return fmt.Errorf("reading unsettled fires: %w", err)
	}
	type pending struct {
		due         int64
		job, status string
	}
	var ps []pending
	for rows.Next() {
		var p pending
		if err := rows.Scan(&p.due, &p.job, &p.status); err != nil {
			_ = rows.Close()
			return err
		}
		ps = append(ps, p)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, p := range ps {
		outcome := StatusNotSent
		if p.status == StatusSubmitted {
			sum, err := s.jobs.Job(ctx, p.job)
			if errors.Is(err, journal.ErrNotFound) {
				return nil // not handled yet: later ones wait their turn
			}
			if err != nil {
				return fmt.Errorf("reading job %s: %w", p.job, err)
			}
			if !sum.State.Ended() {
				return nil
			}
			outcome = string(sum.State)
		}
		if err := s.count(ctx, name, p.due, p.job, outcome, pauseAfter); err != nil {
			return err
		}
	}
	return nil
}

// count records a fire's outcome and updates the failures in a row, in
// one transaction, unless another scheduler counted it first.
func (s *Scheduler) count(ctx context.Context, name string, due int64, jobID, outcome string, pauseAfter int) error {
	return sqlitedb.Tx(ctx, s.store.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE schedule_fires SET outcome = ? WHERE schedule = ? AND due_ms = ? AND outcome = ''`, outcome, name, due)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		if outcome == string(schemas.OutcomeSucceeded) {
			_, err = tx.ExecContext(ctx, `UPDATE schedule_state SET failures = 0 WHERE schedule = ?`, name)
			return err
		}
		var failures int
		if err := tx.QueryRowContext(ctx, `UPDATE schedule_state SET failures = failures + 1 WHERE schedule = ? RETURNING failures`, name).
			Scan(&failures); err != nil {
			return err
		}
		if pauseAfter > 0 && failures >= pauseAfter {
			res, err := tx.ExecContext(ctx, `UPDATE schedule_state SET paused = 1, paused_ms = ?, pause_reason = ? WHERE schedule = ? AND paused = 0`,
				ms(s.opts.Now()), fmt.Sprintf("%d consecutive jobs did not succeed (last: %s, %s)", failures, jobID, outcome), name)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				s.opts.Logger.Warn("schedule paused", "schedule", name, "failures", failures, "last_job", jobID, "outcome", outcome)
			}
		}
		return nil
	})
}

// claim takes the latest due time of the schedule not yet claimed, if
// any, under the fires' unique key, in one write transaction: of several
// schedulers, one gets it. A paused schedule claims nothing.
func (s *Scheduler) claim(ctx context.Context, name string, spec cronspec.Spec) (*Fire, error) {
	now := s.opts.Now()
	var fire *Fire
	err := sqlitedb.Tx(ctx, s.store.db, func(tx *sql.Tx) error {
		var since int64
		var paused int
		var last sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT since_ms, paused, (SELECT MAX(due_ms) FROM schedule_fires WHERE schedule = ?)
			FROM schedule_state WHERE schedule = ?`, name, name).Scan(&since, &paused, &last); err != nil {
			return err
		}
		if paused != 0 {
			return nil
		}
		after := since
		if last.Valid && last.Int64 > after {
			after = last.Int64
		}
		due, ok := spec.Latest(time.UnixMilli(after), now)
		if !ok {
			return nil
		}
		f := Fire{Schedule: name, Due: due, Fired: now, Holder: s.opts.Holder, JobID: producer.NewJobID(), Status: StatusClaimed}
		res, err := tx.ExecContext(ctx, `INSERT INTO schedule_fires (schedule, due_ms, fired_ms, holder, job_id, status)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, name, ms(due), ms(now), f.Holder, f.JobID, f.Status)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			fire = &f
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claiming a due time: %w", err)
	}
	return fire, nil
}

// fire applies the overlap policy to a claimed due time and sends its job.
func (s *Scheduler) fire(ctx context.Context, name string, c schemas.Schedule, f Fire) error {
	log := s.opts.Logger.With("schedule", name, "due", f.Due.Format(time.RFC3339))
	if overlap := c.EffectiveOverlap(); overlap != schemas.OverlapAllow {
		prev, running, err := s.previous(ctx, name, f.Due)
		if err != nil {
			return err
		}
		if running && overlap == schemas.OverlapSkip {
			log.Info("schedule skipped: its previous job has not ended", "previous_job", prev)
			return s.mark(ctx, name, f.Due, "", StatusSkipped, "previous job "+prev+" had not ended")
		}
		if running {
			cctx, cancel := context.WithTimeout(ctx, s.opts.CancelTimeout)
			err := s.jobs.Cancel(cctx, name, prev, fmt.Sprintf("schedule %s fired again at %s (overlap: cancel-previous)", name, f.Due.Format(time.RFC3339)))
			cancel()
			if err != nil {
				log.Warn("cancelling the previous job", "previous_job", prev, "err", err)
			}
		}
	}
	req := producer.Request{
		JobID:     f.JobID,
		Container: c.Container,
		Script:    c.Script,
		Args:      c.Args,
		Caller: schemas.CallerMetadata{
			CIProvider:  "schedule",
			User:        schemas.ScheduleCaller(name),
			Schedule:    name,
			ScheduledAt: f.Due.UTC(),
		},
	}
	if err := s.jobs.Submit(ctx, name, req); err != nil {
		log.Warn("sending the scheduled job", "job_id", f.JobID, "err", err)
		return errors.Join(err, s.mark(ctx, name, f.Due, f.JobID, StatusNotSent, err.Error()))
	}
	log.Info("schedule fired", "job_id", f.JobID)
	return s.mark(ctx, name, f.Due, f.JobID, StatusSubmitted, "")
}

func (s *Scheduler) mark(ctx context.Context, name string, due time.Time, jobID, status, msg string) error {
	// A marking must land even when ctx is ending: the send happened.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sqlitedb.BusyTimeout)
	defer cancel()
	_, err := sqlitedb.Exec(mctx, s.store.db, `UPDATE schedule_fires SET job_id = ?, status = ?, error = ? WHERE schedule = ? AND due_ms = ?`,
		jobID, status, msg, name, ms(due))
	if err != nil {
		return fmt.Errorf("recording fire of %s: %w", due.Format(time.RFC3339), err)
	}
	return nil
}

// previous returns the job of the schedule's latest sent fire before due
// and whether it has not ended yet.
func (s *Scheduler) previous(ctx context.Context, name string, due time.Time) (string, bool, error) {
	var jobID string
	var fired int64
	err := s.store.db.QueryRowContext(ctx, `SELECT job_id, fired_ms FROM schedule_fires WHERE schedule = ? AND due_ms < ? AND status = ?
		ORDER BY due_ms DESC LIMIT 1`, name, ms(due), StatusSubmitted).Scan(&jobID, &fired)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading the previous fire: %w", err)
	}
	sum, err := s.jobs.Job(ctx, jobID)
	switch {
	case errors.Is(err, journal.ErrNotFound):
		return jobID, s.opts.Now().Sub(time.UnixMilli(fired)) < lostAfter, nil
	case err != nil:
		return "", false, fmt.Errorf("reading the previous job %s: %w", jobID, err)
	}
	return jobID, !sum.State.Ended(), nil
}
