package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/cli/schedules"
	"github.com/deployerhq/deployer/internal/embedded"
	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/internal/replay"
	"github.com/deployerhq/deployer/internal/schedule"
	"github.com/deployerhq/deployer/internal/tasklog"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// This file is the one adapter between the dashboard and today's
// backends: the producer client, the replay engine and the schedule
// store, each reached the way the CLI's commands reach them. A Go client
// of deployer replaces it without touching the pages.

// Policy is the policy in force, as the dashboard needs it: to judge
// replays and to list lanes and schedules. *policy.Policy and
// *policy.Live fit it.
type Policy interface {
	replay.Policy
	Config() schemas.Config
}

// BackendSource is a Source on an opened backend.
type BackendSource struct {
	// Backend is the opened backend. Required.
	Backend backend.Backend
	// Policy returns the policy in force; it is called for every dry run,
	// replay, lane and schedule listing, so a long-running dashboard sees
	// a changed configuration. Required.
	Policy func() (Policy, error)
	// Caller is the identity the gatekeeper verifies for what this
	// process sends (the embedded backend's OS user): replays are judged
	// as it. Zero: each dead letter's original caller.
	Caller schemas.Identity
	// CallerMeta describes the dashboard's caller in its cancel requests
	// (producer.CallerFromEnv).
	CallerMeta schemas.CallerMetadata
	// EnsureServed, when set, makes sure a pipeline serves the backend
	// before a replay or a cancel is sent (something must answer it).
	EnsureServed func(ctx context.Context) error
	// AnswerWait bounds how long a replay or a cancel waits for the
	// gatekeeper's answer. Defaults to replay.DefaultAnswerWait.
	AnswerWait time.Duration
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

var _ Source = (*BackendSource)(nil)

func (s *BackendSource) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *BackendSource) answerWait() time.Duration {
	if s.AnswerWait > 0 {
		return s.AnswerWait
	}
	return replay.DefaultAnswerWait
}

// notFound makes the ports' not-found errors ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, journal.ErrNotFound) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// Where names the backend.
func (s *BackendSource) Where() string { return s.Backend.Where() }

// Jobs lists jobs (producer.Client.Jobs).
func (s *BackendSource) Jobs(ctx context.Context, f producer.JobFilter) ([]producer.JobSummary, error) {
	sums, err := s.Backend.Client().Jobs(ctx, f)
	return sums, notFound(err)
}

// History reads a job's journal.
func (s *BackendSource) History(ctx context.Context, jobID string) ([]schemas.JobEvent, error) {
	evs, err := s.Backend.Client().Status(ctx, jobID)
	return evs, notFound(err)
}

// TaskLog reads a task's log from the task log source.
func (s *BackendSource) TaskLog(ctx context.Context, taskID string, after int64, limit int) ([]schemas.LogLine, error) {
	lines, err := s.Backend.Client().Logs.Read(ctx, taskID, after, limit)
	if errors.Is(err, tasklog.ErrNotFound) {
		return nil, nil
	}
	return lines, err
}

// Batches lists the most recent batches.
func (s *BackendSource) Batches(ctx context.Context, limit int) ([]producer.Batch, error) {
	return s.Backend.Client().Batches(ctx, limit)
}

// Batch reads one batch's journal.
func (s *BackendSource) Batch(ctx context.Context, batchID string) (producer.Batch, error) {
	b, _, err := s.Backend.Client().ReadBatch(ctx, batchID)
	return b, notFound(err)
}

// Lanes lists the configuration's lanes with their limits and leases.
func (s *BackendSource) Lanes(ctx context.Context) ([]Lane, error) {
	pol, err := s.Policy()
	if err != nil {
		return nil, err
	}
	cfg := pol.Config()
	limiter := s.Backend.Client().Lanes
	var out []Lane
	for _, name := range backend.Lanes(cfg) {
		if name == topology.CancelLane {
			continue
		}
		l := Lane{Name: name, Leases: -1}
		if c, ok := cfg.Lanes[name]; ok {
			l.Limit = c.Concurrency
		} else if name == schemas.DefaultLane {
			l.Limit = schemas.DefaultLaneLimit
		}
		if limiter != nil {
			leases, err := limiter.Leases(ctx, name)
			if err != nil {
				return nil, fmt.Errorf("counting what runs in lane %s: %w", name, err)
			}
			l.Leases = len(leases)
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DeadLetters lists the dead letters as "deployer dlq list" does: looked
// at where the queue allows it, else received and handed back at once.
func (s *BackendSource) DeadLetters(ctx context.Context) (out []DeadLetter, err error) {
	sc := replay.NewScanner(s.Backend, "")
	sc.Look = true
	defer func() {
		if rerr := replay.Release(ctx, sc.Letters); rerr != nil && err == nil {
			err = rerr
		}
	}()
	if err := sc.Scan(ctx); err != nil {
		return nil, err
	}
	for _, g := range replay.Groups(sc.Letters) {
		l := g.Newest()
		d := DeadLetter{
			JobID: l.DL.JobID, MessageID: l.Msg.ID, Queue: l.Queue,
			Outcome: l.DL.Failure.Outcome, ReasonCode: l.DL.Failure.ReasonCode, Reason: l.DL.Failure.Reason,
			ExitCode: l.DL.Failure.ExitCode, Attempts: l.DL.Failure.Attempts, FailedAt: l.When().UTC(),
			Count: len(g.Letters), Replayable: l.DL.Request != nil,
		}
		if r := l.DL.Request; r != nil {
			d.Container, d.Script, d.BatchID = r.Container, r.Script, r.BatchID
		}
		out = append(out, d)
	}
	// Newest first, as the jobs are listed.
	slices.Reverse(out)
	return out, nil
}

func (s *BackendSource) engine() (*replay.Engine, error) {
	pol, err := s.Policy()
	if err != nil {
		return nil, err
	}
	return &replay.Engine{Backend: s.Backend, Policy: pol, Caller: s.Caller, AnswerWait: s.answerWait(), Now: s.Now}, nil
}

// DryRun judges one dead letter's replay (replay.Engine.Plan, looking).
func (s *BackendSource) DryRun(ctx context.Context, jobID string) (ReplayResult, error) {
	e, err := s.engine()
	if err != nil {
		return ReplayResult{}, err
	}
	e.Look = true
	items, err := e.Plan(ctx, replay.Filter{JobIDs: []string{jobID}})
	return result(jobID, items, err)
}

// Replay replays one dead letter (replay.Engine.Replay), as "deployer
// dlq replay JOB_ID" does.
func (s *BackendSource) Replay(ctx context.Context, jobID string) (ReplayResult, error) {
	e, err := s.engine()
	if err != nil {
		return ReplayResult{}, err
	}
	if s.EnsureServed != nil {
		if err := s.EnsureServed(ctx); err != nil {
			return ReplayResult{}, err
		}
	}
	items, err := e.Replay(ctx, replay.Filter{JobIDs: []string{jobID}})
	return result(jobID, items, err)
}

func result(jobID string, items []replay.Item, err error) (ReplayResult, error) {
	if err != nil {
		return ReplayResult{}, err
	}
	for _, it := range items {
		if it.JobID == jobID {
			return ReplayResult{
				JobID: it.JobID, ReplayID: it.ReplayID, Container: it.Container, Script: it.Script,
				Verdict: Verdict(it.Verdict), ReasonCode: it.ReasonCode, Reason: it.Reason, State: it.State,
			}, nil
		}
	}
	return ReplayResult{JobID: jobID, Verdict: VerdictNotFound, ReasonCode: "no_dead_letter",
		Reason: "no dead letter for job " + jobID}, nil
}

// Cancel asks the gatekeeper to cancel a job (producer.Client.Cancel),
// as "deployer cancel" does.
func (s *BackendSource) Cancel(ctx context.Context, jobID, reason string) (producer.CancelAnswer, error) {
	if s.EnsureServed != nil {
		if err := s.EnsureServed(ctx); err != nil {
			return producer.CancelAnswer{}, err
		}
	}
	actx, cancel := context.WithTimeout(ctx, s.answerWait())
	defer cancel()
	ans, err := s.Backend.Client().Cancel(actx, jobID, producer.CancelOptions{Reason: reason, Caller: s.CallerMeta})
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return ans, fmt.Errorf("no answer to the cancel of job %s within %s; it may still be handled", jobID, s.answerWait())
	}
	return ans, err
}

// Schedules lists the schedules as "deployer schedules" does.
func (s *BackendSource) Schedules(ctx context.Context) ([]Schedule, error) {
	pol, err := s.Policy()
	if err != nil {
		return nil, err
	}
	cfg := pol.Config().Schedules
	now := s.now()
	eb, ok := s.Backend.(*embedded.Backend)
	if !ok {
		list := schedules.List(cfg, nil, nil, now)
		out := make([]Schedule, len(list))
		for i, sc := range list {
			out[i] = fromListing(sc)
			out[i].Unknown = "On AWS, EventBridge Scheduler fires schedules and keeps their paused state: pause one with the Terraform module's schedules variable (state = \"DISABLED\")."
		}
		return out, nil
	}
	store, err := schedule.OpenStore(ctx, eb.DB, s.now)
	if err != nil {
		return nil, err
	}
	states := map[string]schedule.State{}
	for n := range cfg {
		st, err := store.State(ctx, n)
		if err != nil {
			return nil, err
		}
		states[n] = st
	}
	c := s.Backend.Client()
	jobState := func(id string) string {
		sum, err := c.Job(ctx, id)
		if errors.Is(err, journal.ErrNotFound) {
			return "sent"
		}
		if err != nil {
			return "unknown"
		}
		return string(sum.State)
	}
	list := schedules.List(cfg, states, jobState, now)
	out := make([]Schedule, len(list))
	for i, sc := range list {
		out[i] = fromListing(sc)
	}
	return out, nil
}

func fromListing(sc schedules.Schedule) Schedule {
	out := Schedule{
		Name: sc.Name, Cron: sc.Cron, TimeZone: sc.TimeZone, Container: sc.Container, Script: sc.Script, Args: sc.Args,
		Next: sc.Next, Paused: sc.Paused, PauseReason: sc.PauseReason, Failures: sc.Failures,
		PauseAfterFailures: sc.PauseAfterFailures, Unknown: sc.Unknown,
	}
	if l := sc.Last; l != nil {
		out.Last = &ScheduleRun{Due: l.Due, JobID: l.JobID, Status: l.Status, State: l.State, Error: l.Error}
	}
	return out
}

// SetPaused pauses or resumes a schedule in the embedded backend's
// schedule store, as "deployer schedules pause|resume" does.
func (s *BackendSource) SetPaused(ctx context.Context, name string, paused bool) error {
	pol, err := s.Policy()
	if err != nil {
		return err
	}
	if _, ok := pol.Config().Schedules[name]; !ok {
		return fmt.Errorf("%w: no schedule %q in the configuration", ErrNotFound, name)
	}
	eb, ok := s.Backend.(*embedded.Backend)
	if !ok {
		return fmt.Errorf("%w: on AWS, EventBridge Scheduler holds the paused state: set state = \"DISABLED\" (or \"ENABLED\") for %s in the Terraform module's schedules variable", ErrUnsupported, name)
	}
	store, err := schedule.OpenStore(ctx, eb.DB, s.now)
	if err != nil {
		return err
	}
	if paused {
		return store.Pause(ctx, name, "paused from the dashboard")
	}
	return store.Resume(ctx, name)
}
