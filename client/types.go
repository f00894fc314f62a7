package client

import (
	"errors"

	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// The request, job and result types are package producer's (the engine
// under this client), re-exported here so that a program needs only this
// package and schemas.
type (
	// Request is what a caller asks to run: a container and one of its
	// scripts with arguments, optional overrides within the container's
	// caps, and the caller's CI metadata.
	Request = producer.Request
	// Job identifies a submitted job.
	Job = producer.Job
	// FollowOptions tune Follow: where the lines and events go, and how
	// long to wait for gaps and for the lines the end promised.
	FollowOptions = producer.FollowOptions
	// FollowResult is how a followed job ended: its terminal event, and
	// how many promised lines never arrived.
	FollowResult = producer.FollowResult
	// CancelOptions tune Cancel.
	CancelOptions = producer.CancelOptions
	// CancelAnswer is the gatekeeper's answer to a cancel.
	CancelAnswer = producer.CancelAnswer
	// Description is the gatekeeper's answer to Describe: what the
	// verified caller may run, under which policy.
	Description = producer.Description
	// JobSummary is a job as its history tells it: its state, what it
	// runs, its lane, times and how it ended.
	JobSummary = producer.JobSummary
	// JobFilter selects jobs for Jobs. The zero value keeps every job.
	JobFilter = producer.JobFilter
	// JobState is where a job is: queued, running, or how it ended.
	JobState = producer.JobState
	// BatchRequest is a batch to submit: jobs sharing one batch id.
	BatchRequest = producer.BatchRequest
	// BatchJobRequest is one job of a BatchRequest.
	BatchJobRequest = producer.BatchJobRequest
	// Batch is a batch as its journal tells it.
	Batch = producer.Batch
	// BatchJob is one job of a Batch.
	BatchJob = producer.BatchJob
)

// Job states (see JobState).
const (
	StateQueued        = producer.StateQueued
	StateRunning       = producer.StateRunning
	StateSucceeded     = producer.StateSucceeded
	StateFailed        = producer.StateFailed
	StateRejected      = producer.StateRejected
	StateTimedOut      = producer.StateTimedOut
	StateCancelled     = producer.StateCancelled
	StateCouldNotStart = producer.StateCouldNotStart
	StateLost          = producer.StateLost
	StateUnknown       = producer.StateUnknown
)

// DefaultMaxWait is how long a job's stream is kept for its followers
// unless Request.MaxWait says otherwise.
const DefaultMaxWait = producer.DefaultMaxWait

// Exit codes of "deployer run" for the outcomes other than "the task ran
// and exited" (see ExitCode).
const (
	ExitCouldNotStart = producer.ExitCouldNotStart // 69: the task never ran
	ExitGaveUp        = producer.ExitGaveUp        // 75: lost contact, or gave up waiting; the job may still run
	ExitRejected      = producer.ExitRejected      // 77: refused by policy
	ExitTimedOut      = producer.ExitTimedOut      // 124: the job hit its timeout and was stopped
	ExitCancelled     = producer.ExitCancelled     // 130: the job was cancelled
)

// ExitCode maps a job's terminal event to the exit code "deployer run"
// ends with: the task's own when it ran and exited, one of the Exit*
// codes otherwise. FollowResult.ExitCode is the same for a followed job.
func ExitCode(terminal schemas.JobEvent) int { return producer.ExitCode(terminal) }

// Terminal returns the last terminal event of a job's history, if any.
func Terminal(history []schemas.JobEvent) (schemas.JobEvent, bool) {
	return producer.Terminal(history)
}

// Summarize tells where a job is from its history (see History).
func Summarize(history []schemas.JobEvent) JobSummary { return producer.Summarize(history) }

// CallerFromEnv describes the caller's CI context (GitHub Actions,
// GitLab CI, CircleCI, Buildkite, Jenkins) from its environment variables,
// for Request.Caller. It is informational: authorization uses the identity
// the backend verified.
func CallerFromEnv(getenv func(string) string) schemas.CallerMetadata {
	return producer.CallerFromEnv(getenv)
}

// Errors. Test for them with errors.Is.
var (
	// ErrNotFound reports a job, batch or dead letter the backend has no
	// record of: unknown, or not yet seen by the gatekeeper.
	ErrNotFound = errors.New("not found")
	// ErrStreamGone reports that a followed job's stream is gone (it
	// expired, or was never made: an unknown job) and the job's history
	// does not hold its end.
	ErrStreamGone = producer.ErrStreamGone
	// ErrDescribeRejected reports a describe request the gatekeeper
	// refused (an unknown caller).
	ErrDescribeRejected = producer.ErrDescribeRejected
	// ErrWouldReceive reports dead-letter queues that cannot be read
	// without receiving their letters (SQS), asked for with
	// DeadLetterOptions.NoReceive.
	ErrWouldReceive = errors.New("the dead-letter queues cannot be read without receiving their letters")
	// ErrNotSupported reports what the backend cannot do through a
	// client: on AWS, reading or changing a schedule's state, which
	// EventBridge Scheduler keeps.
	ErrNotSupported = errors.New("not supported by this backend")
)

// notFound marks an error of the journal's as ErrNotFound, keeping its
// message and what it wraps.
func notFound(err error) error {
	if err == nil || !errors.Is(err, journal.ErrNotFound) || errors.Is(err, ErrNotFound) {
		return err
	}
	return &notFoundError{err: err}
}

type notFoundError struct{ err error }

func (e *notFoundError) Error() string   { return e.err.Error() }
func (e *notFoundError) Unwrap() []error { return []error{e.err, ErrNotFound} }
