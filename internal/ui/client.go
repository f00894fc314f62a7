package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/cli/schedules"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// This file is the one adapter between the dashboard and a deployment:
// package client, the Go client the CLI's commands and any Go program
// use, and nothing below it. What the dashboard shows and does is what
// the client can say and do.

// Policy is the policy in force, as the dashboard needs it: to judge
// replays (client.Policy) and to list lanes and schedules.
// *policy.Policy and *policy.Live fit it.
type Policy interface {
	client.Policy
	Config() schemas.Config
}

// ClientSource is a Source on an opened client.
type ClientSource struct {
	// Client is the opened client; the dashboard does not close it. A
	// read-only client (an embedded state directory this user cannot
	// write) serves a read-only dashboard. Required.
	Client *client.Client
	// Policy returns the policy in force; it is called for every dry run,
	// replay, lane and schedule listing, so a long-running dashboard sees
	// a changed configuration. Required.
	Policy func() (Policy, error)
	// CallerMeta describes the dashboard's caller in its cancel requests
	// (client.CallerFromEnv).
	CallerMeta schemas.CallerMetadata
	// EnsureServed, when set, makes sure a pipeline serves the backend
	// before a replay or a cancel is sent (something must answer it).
	EnsureServed func(ctx context.Context) error
	// AnswerWait bounds how long a replay or a cancel waits for the
	// gatekeeper's answer. Defaults to client.DefaultAnswerWait.
	AnswerWait time.Duration
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

var _ Source = (*ClientSource)(nil)

func (s *ClientSource) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *ClientSource) answerWait() time.Duration {
	if s.AnswerWait > 0 {
		return s.AnswerWait
	}
	return client.DefaultAnswerWait
}

// Where names the deployment.
func (s *ClientSource) Where() string { return s.Client.Where() }

// Jobs lists jobs (client.Client.Jobs).
func (s *ClientSource) Jobs(ctx context.Context, f producer.JobFilter) ([]producer.JobSummary, error) {
	return s.Client.Jobs(ctx, f)
}

// History reads a job's journal (client.Client.History).
func (s *ClientSource) History(ctx context.Context, jobID string) ([]schemas.JobEvent, error) {
	return s.Client.History(ctx, jobID)
}

// TaskLog reads a task's log (client.Client.TaskLog).
func (s *ClientSource) TaskLog(ctx context.Context, taskID string, after int64, limit int) ([]schemas.LogLine, error) {
	return s.Client.TaskLog(ctx, taskID, after, limit)
}

// Batches lists the most recent batches (client.Client.Batches).
func (s *ClientSource) Batches(ctx context.Context, limit int) ([]producer.Batch, error) {
	return s.Client.Batches(ctx, limit)
}

// Batch reads one batch (client.Client.Batch).
func (s *ClientSource) Batch(ctx context.Context, batchID string) (producer.Batch, error) {
	return s.Client.Batch(ctx, batchID)
}

// Lanes lists the configuration's lanes with their limits and what runs
// in them (client.Client.Lanes).
func (s *ClientSource) Lanes(ctx context.Context) ([]Lane, error) {
	pol, err := s.Policy()
	if err != nil {
		return nil, err
	}
	lanes, err := s.Client.Lanes(ctx, pol.Config())
	if err != nil {
		return nil, err
	}
	out := make([]Lane, len(lanes))
	for i, l := range lanes {
		out[i] = Lane{Name: l.Name, Limit: l.Limit, Leases: l.Running}
	}
	return out, nil
}

// DeadLetters lists the dead letters as "deployer dlq list" does
// (client.Client.DeadLetters): looked at where the queue allows it, else
// received and handed back at once.
func (s *ClientSource) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	letters, err := s.Client.DeadLetters(ctx, client.DeadLetterOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]DeadLetter, 0, len(letters))
	for _, l := range letters {
		f := l.Letter.Failure
		d := DeadLetter{
			JobID: l.JobID, MessageID: l.MessageID, Queue: string(l.Queue),
			Outcome: f.Outcome, ReasonCode: f.ReasonCode, Reason: f.Reason, ExitCode: f.ExitCode, Attempts: f.Attempts,
			FailedAt: l.FailedAt, Count: l.Count, Replayable: l.Replayable(),
		}
		if r := l.Letter.Request; r != nil {
			d.Container, d.Script, d.BatchID = r.Container, r.Script, r.BatchID
		}
		out = append(out, d)
	}
	// Newest first, as the jobs are listed.
	slices.Reverse(out)
	return out, nil
}

// DryRun judges one dead letter's replay, sending nothing
// (client.Client.ReplayDeadLetters with DryRun).
func (s *ClientSource) DryRun(ctx context.Context, jobID string) (ReplayResult, error) {
	return s.replay(ctx, jobID, true)
}

// Replay replays one dead letter, as "deployer dlq replay JOB_ID" does
// (client.Client.ReplayDeadLetters).
func (s *ClientSource) Replay(ctx context.Context, jobID string) (ReplayResult, error) {
	if s.EnsureServed != nil {
		if err := s.EnsureServed(ctx); err != nil {
			return ReplayResult{}, err
		}
	}
	return s.replay(ctx, jobID, false)
}

func (s *ClientSource) replay(ctx context.Context, jobID string, dryRun bool) (ReplayResult, error) {
	pol, err := s.Policy()
	if err != nil {
		return ReplayResult{}, err
	}
	items, err := s.Client.ReplayDeadLetters(ctx, client.DeadLetterFilter{JobIDs: []string{jobID}},
		client.ReplayOptions{Policy: pol, DryRun: dryRun, AnswerWait: s.answerWait(), Now: s.Now})
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

// Cancel asks the gatekeeper to cancel a job, as "deployer cancel" does
// (client.Client.Cancel).
func (s *ClientSource) Cancel(ctx context.Context, jobID, reason string) (producer.CancelAnswer, error) {
	if s.EnsureServed != nil {
		if err := s.EnsureServed(ctx); err != nil {
			return producer.CancelAnswer{}, err
		}
	}
	actx, cancel := context.WithTimeout(ctx, s.answerWait())
	defer cancel()
	ans, err := s.Client.Cancel(actx, jobID, client.CancelOptions{Reason: reason, Caller: s.CallerMeta})
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return ans, fmt.Errorf("no answer to the cancel of job %s within %s; it may still be handled", jobID, s.answerWait())
	}
	return ans, err
}

// Schedules lists the schedules as "deployer schedules" does: their
// state is the client's (client.Client.ScheduleState), and not known on
// AWS, whose EventBridge Scheduler keeps it.
func (s *ClientSource) Schedules(ctx context.Context) ([]Schedule, error) {
	pol, err := s.Policy()
	if err != nil {
		return nil, err
	}
	cfg := pol.Config().Schedules
	states, err := schedules.States(ctx, s.Client, cfg)
	if err != nil {
		return nil, err
	}
	jobState := func(id string) string {
		sum, err := s.Client.Status(ctx, id)
		if errors.Is(err, client.ErrNotFound) {
			return "sent"
		}
		if err != nil {
			return "unknown"
		}
		return string(sum.State)
	}
	list := schedules.List(cfg, states, jobState, s.now())
	out := make([]Schedule, len(list))
	for i, sc := range list {
		out[i] = fromListing(sc)
		if states == nil {
			out[i].Unknown = "On AWS, EventBridge Scheduler fires schedules and keeps their paused state: pause one with the Terraform module's schedules variable (state = \"DISABLED\")."
		}
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

// SetPaused pauses or resumes a schedule, as "deployer schedules
// pause|resume" does (client.Client.PauseSchedule, ResumeSchedule):
// ErrUnsupported on AWS.
func (s *ClientSource) SetPaused(ctx context.Context, name string, paused bool) error {
	pol, err := s.Policy()
	if err != nil {
		return err
	}
	if _, ok := pol.Config().Schedules[name]; !ok {
		return fmt.Errorf("%w: no schedule %q in the configuration", ErrNotFound, name)
	}
	if paused {
		return s.Client.PauseSchedule(ctx, name, "paused from the dashboard")
	}
	return s.Client.ResumeSchedule(ctx, name)
}
