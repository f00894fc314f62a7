package ui

import (
	"context"
	"time"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// Source is everything the dashboard reads and does: a small port of its
// own, so that the pages depend on no backend. ClientSource fits it to
// package client, the Go client the CLI's commands use.
//
// Errors the pages tell apart: ErrNotFound (404) and ErrUnsupported (the
// backend cannot do it: 501). Anything else is shown as it says.
type Source interface {
	// Where names the backend ("state directory /x", "AWS eu-west-1,
	// prefix deployer-").
	Where() string
	// Jobs returns the summaries of the jobs f keeps, newest first.
	Jobs(ctx context.Context, f producer.JobFilter) ([]producer.JobSummary, error)
	// History returns a job's events, oldest first; ErrNotFound when
	// nothing has recorded the job (yet).
	History(ctx context.Context, jobID string) ([]schemas.JobEvent, error)
	// TaskLog returns up to limit records of a task's own log with a seq
	// above after, in order (see tasklog.Source.Read); none when the task
	// has logged nothing yet.
	TaskLog(ctx context.Context, taskID string, after int64, limit int) ([]schemas.LogLine, error)
	// Batches returns the most recent batches, newest first.
	Batches(ctx context.Context, limit int) ([]producer.Batch, error)
	// Batch returns one batch; ErrNotFound when its journal holds nothing.
	Batch(ctx context.Context, batchID string) (producer.Batch, error)
	// Lanes returns the concurrency lanes the configuration uses, with
	// their limits and how many leases they hold now.
	Lanes(ctx context.Context) ([]Lane, error)
	// DeadLetters lists the dead-lettered jobs, one per job, changing
	// nothing where the queue allows it.
	DeadLetters(ctx context.Context) ([]DeadLetter, error)
	// DryRun judges the replay of one dead-lettered job under the policy
	// in force and sends nothing.
	DryRun(ctx context.Context, jobID string) (ReplayResult, error)
	// Replay sends one dead-lettered job's request through the gatekeeper
	// again, as the dashboard's caller, and waits for its answer.
	Replay(ctx context.Context, jobID string) (ReplayResult, error)
	// Cancel asks the gatekeeper, as the dashboard's caller, to cancel a
	// job, and returns its answer.
	Cancel(ctx context.Context, jobID, reason string) (producer.CancelAnswer, error)
	// Schedules lists the configuration's schedules.
	Schedules(ctx context.Context) ([]Schedule, error)
	// SetPaused pauses or resumes a schedule; ErrNotFound for a schedule
	// the configuration does not have, ErrUnsupported where the backend
	// keeps no paused state.
	SetPaused(ctx context.Context, name string, paused bool) error
}

var (
	// ErrNotFound means no such job, batch, dead letter or schedule: the
	// client's error.
	ErrNotFound = client.ErrNotFound
	// ErrUnsupported means the backend cannot do what was asked: the
	// client's ErrNotSupported.
	ErrUnsupported = client.ErrNotSupported
)

// Lane is a concurrency lane.
type Lane struct {
	Name string
	// Limit is how many of its jobs may run at once (0: not known).
	Limit int
	// Leases is how many slots are held now; -1 when not known.
	Leases int
}

// DeadLetter is one dead-lettered job (its newest letter).
type DeadLetter struct {
	// JobID is empty for a letter whose message names no job; MessageID
	// identifies it then.
	JobID     string
	MessageID string
	// Queue is "run" or "request".
	Queue      string
	Container  string
	Script     string
	BatchID    string
	Outcome    schemas.Outcome
	ReasonCode string
	Reason     string
	ExitCode   *int
	Attempts   int
	FailedAt   time.Time
	// Count is how many letters the job has (dead-lettered more than
	// once).
	Count int
	// Replayable is false for a letter whose request could not be read.
	Replayable bool
}

// Verdict is what a replay did, or would do, to one dead letter. The
// values are those of "deployer dlq replay --output json".
type Verdict string

// Verdicts.
const (
	VerdictWouldReplay  Verdict = "would_replay"
	VerdictReplayed     Verdict = "replayed"
	VerdictRejected     Verdict = "rejected"
	VerdictAlready      Verdict = "already_replayed"
	VerdictPending      Verdict = "pending"
	VerdictUnreplayable Verdict = "unreplayable"
	VerdictNotFound     Verdict = "not_found"
	VerdictFailed       Verdict = "failed"
)

// ReplayResult is the verdict of a dry run or a replay of one dead letter.
type ReplayResult struct {
	JobID string
	// ReplayID is the job the replay runs as ("<id>-r1").
	ReplayID   string
	Container  string
	Script     string
	Verdict    Verdict
	ReasonCode string
	Reason     string
	// State is the replay job's state, once the gatekeeper accepted it.
	State producer.JobState
}

// Schedule is one schedule of the configuration.
type Schedule struct {
	Name      string
	Cron      string
	TimeZone  string
	Container string
	Script    string
	Args      []string
	// Next are the next due times.
	Next []time.Time
	// Paused and Failures are nil when the backend does not know them.
	Paused             *bool
	PauseReason        string
	Failures           *int
	PauseAfterFailures int
	Last               *ScheduleRun
	// Unknown says what this backend cannot tell.
	Unknown string
}

// ScheduleRun is a schedule's latest fire.
type ScheduleRun struct {
	Due   time.Time
	JobID string
	// Status is how the fire went (submitted, skipped, ...); State the
	// job's state now.
	Status string
	State  string
	Error  string
}
