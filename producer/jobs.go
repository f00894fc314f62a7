package producer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/schemas"
)

// JobState is where a job is, as its history tells.
type JobState string

// Job states. Queued and Running are the states of a job that has not
// ended; the others are the outcomes it ended with.
const (
	// StateQueued: accepted, waiting for a worker to start it (its lane
	// may be full).
	StateQueued JobState = "queued"
	// StateRunning: a worker is starting or running its task.
	StateRunning       JobState = "running"
	StateSucceeded     JobState = JobState(schemas.OutcomeSucceeded)
	StateFailed        JobState = JobState(schemas.OutcomeFailed)
	StateRejected      JobState = JobState(schemas.OutcomeRejected)
	StateTimedOut      JobState = JobState(schemas.OutcomeTimedOut)
	StateCancelled     JobState = JobState(schemas.OutcomeCancelled)
	StateCouldNotStart JobState = JobState(schemas.OutcomeCouldNotStart)
	StateLost          JobState = JobState(schemas.OutcomeLost)
	// StateUnknown: the history holds no event that places the job.
	StateUnknown JobState = "unknown"
)

// JobStates lists the states a job can be listed by, in lifecycle order.
func JobStates() []JobState {
	return []JobState{StateQueued, StateRunning, StateSucceeded, StateFailed, StateRejected,
		StateTimedOut, StateCancelled, StateCouldNotStart, StateLost}
}

// Ended reports whether s is an outcome.
func (s JobState) Ended() bool { return s != StateQueued && s != StateRunning && s != StateUnknown }

// JobSummary is a job as its history tells it.
type JobSummary struct {
	JobID string
	State JobState
	// Attempt is the attempt the state is of (1 for a job never retried).
	Attempt int
	// From the accepted event (Container and Script also from a
	// rejection).
	Container string
	Script    string
	Argv      []string
	// Canary is set for a canary (Script is empty: its task runs
	// schemas.CanaryCommand).
	Canary    bool
	Lane      string
	LaneLimit int
	Principal string
	// BatchID and BatchKey place a job of a batch (BatchKey is its matrix
	// key, or its position when it has none).
	BatchID  string
	BatchKey string
	// Submitted is when the job was submitted (its id's time, else its
	// first event's); Started when its last attempt's task started;
	// Ended when it ended. Zero when unknown or not yet.
	Submitted time.Time
	Started   time.Time
	Ended     time.Time
	// Updated is the time of the last event.
	Updated time.Time
	// Terminal events: how and why; Reason also says why a queued job
	// waits (its last queued event's reason).
	Outcome  schemas.Outcome
	ExitCode *int
	Reason   string
	// TaskID is the task of the last attempt that started one.
	TaskID string
}

// Stage orders the events of one attempt of a job: accepted and queued
// (1), then starting and started (2), then its end (3); 0 for the events
// that place nothing (log lines, heartbeats). A later stage is never
// undone by an earlier one read after it: the gatekeeper's queued event
// may be journaled, and delivered, after the worker's starting event.
func Stage(t schemas.EventType) int {
	switch t {
	case schemas.EventAccepted, schemas.EventQueued:
		return 1
	case schemas.EventStarting, schemas.EventStarted:
		return 2
	}
	if t.Terminal() {
		return 3
	}
	return 0
}

// Summarize tells where a job is from its history (its journal, or its
// events in a batch's journal), oldest first. Within one attempt a job
// only moves forward (accepted or queued, then starting or started, then
// ended); an event of a later attempt (a retry, a replay) starts over.
// A history with no placing event is StateUnknown.
func Summarize(history []schemas.JobEvent) JobSummary {
	var s JobSummary
	s.State = StateUnknown
	at := 0 // the stage reached in attempt s.Attempt
	for _, ev := range history {
		if s.JobID == "" {
			s.JobID = ev.JobID
		}
		if s.Updated.Before(ev.Time) {
			s.Updated = ev.Time
		}
		if s.BatchID == "" {
			s.BatchID = ev.BatchID
		}
		if ev.Batch != nil && s.BatchKey == "" {
			s.BatchKey = ev.Batch.Key
			if s.BatchKey == "" {
				s.BatchKey = fmt.Sprintf("%d/%d", ev.Batch.Index, ev.Batch.Size)
			}
		}
		if ev.Type == schemas.EventAccepted || ev.Type == schemas.EventRejected {
			if ev.Container != "" {
				s.Container, s.Script, s.Canary = ev.Container, ev.Script, ev.Canary
			}
			if ev.Type == schemas.EventAccepted {
				s.Argv, s.Lane, s.LaneLimit = ev.Argv, ev.Lane, ev.LaneLimit
			}
			if ev.Principal != "" {
				s.Principal = ev.Principal
			}
		}
		st := Stage(ev.Type)
		if st == 0 {
			continue
		}
		attempt := max(ev.Attempt, 1)
		switch {
		case attempt < s.Attempt:
			continue // a late event of an earlier attempt
		case attempt > s.Attempt:
			s.Attempt, at = attempt, 0
			s.Started, s.Ended, s.Outcome, s.ExitCode, s.Reason = time.Time{}, time.Time{}, "", nil, ""
		}
		if ev.Type == schemas.EventStarted {
			s.Started, s.TaskID = ev.Time, ev.TaskID
		}
		if st < at {
			continue
		}
		at = st
		switch st {
		case 1:
			s.State = StateQueued
			if ev.Type == schemas.EventQueued {
				s.Reason = ev.Reason
			}
		case 2:
			s.State, s.Reason = StateRunning, ""
		case 3:
			s.State = JobState(ev.Outcome)
			s.Outcome, s.ExitCode, s.Reason, s.Ended = ev.Outcome, ev.ExitCode, ev.Reason, ev.Time
			if ev.TaskID != "" {
				s.TaskID = ev.TaskID
			}
		}
	}
	if t, ok := JobTime(s.JobID); ok {
		s.Submitted = t
	} else if len(history) > 0 {
		s.Submitted = history[0].Time
	}
	return s
}

// JobTime returns the time in a job id (its ULID's).
func JobTime(jobID string) (time.Time, bool) {
	if len(jobID) < ulidLen {
		return time.Time{}, false
	}
	u, err := ulid.ParseStrict(jobID[:ulidLen])
	if err != nil {
		return time.Time{}, false
	}
	return ulid.Time(u.Time()).UTC(), true
}

// jobIDBound is the least job id of a job submitted at t or later.
func jobIDBound(t time.Time) string {
	var u ulid.ULID
	if t.Before(time.UnixMilli(0)) {
		return ""
	}
	if err := u.SetTime(ulid.Timestamp(t)); err != nil {
		return ""
	}
	return u.String()
}

// jobKeysEnd sorts after every job id (ULIDs start 0-7) and before every
// batch id, so a listing before it holds jobs only.
const jobKeysEnd = "8"

// DefaultJobsLimit is how many jobs Jobs returns unless told.
const DefaultJobsLimit = 50

// DefaultJobsScan is how many of the most recent jobs Jobs looks at, at
// most, for the ones a filter keeps.
const DefaultJobsScan = 10000

// JobFilter selects jobs. The zero value keeps every job.
type JobFilter struct {
	// States keeps jobs in any of them; empty keeps all.
	States []JobState
	// Container and Lane keep the jobs of one container, one lane.
	Container string
	Lane      string
	// BatchID lists the jobs of one batch, from the batch's journal.
	BatchID string
	// Since keeps jobs submitted at or after it.
	Since time.Time
	// Limit is the most jobs returned. Defaults to DefaultJobsLimit.
	Limit int
	// Scan bounds how many of the most recent jobs are read (a batch's
	// jobs are all read). Defaults to DefaultJobsScan.
	Scan int
}

// Match reports whether f keeps s (all but Limit and Scan).
func (f JobFilter) Match(s JobSummary) bool {
	switch {
	case len(f.States) > 0 && !slices.Contains(f.States, s.State):
		return false
	case f.Container != "" && s.Container != f.Container:
		return false
	case f.Lane != "" && s.Lane != f.Lane:
		return false
	case f.BatchID != "" && s.BatchID != f.BatchID:
		return false
	case !f.Since.IsZero() && s.Submitted.Before(f.Since):
		return false
	}
	return true
}

// Jobs returns the summaries of the jobs f keeps, newest first (by job
// id). Without f.BatchID it walks the journal's job ids down from the
// newest, reading each job's history, until it has f.Limit jobs, reaches
// f.Since or has read f.Scan jobs; with it, it reads the batch's journal
// (journal.ErrNotFound when the batch has none).
func (c *Client) Jobs(ctx context.Context, f JobFilter) ([]JobSummary, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultJobsLimit
	}
	if f.BatchID != "" {
		all, err := c.batchJobs(ctx, f.BatchID)
		if err != nil {
			return nil, err
		}
		var out []JobSummary
		for _, s := range all {
			if f.Match(s) {
				out = append(out, s)
				if len(out) == limit {
					break
				}
			}
		}
		return out, nil
	}
	var out []JobSummary
	_, err := c.scanJobs(ctx, jobKeysEnd, f.Since, f.Scan, func(s JobSummary) bool {
		if f.Match(s) {
			out = append(out, s)
		}
		return len(out) < limit
	})
	return out, err
}

// batchJobs summarizes every job of a batch from the batch's journal,
// newest first.
func (c *Client) batchJobs(ctx context.Context, batchID string) ([]JobSummary, error) {
	b, _, err := c.ReadBatch(ctx, batchID)
	if err != nil {
		return nil, err
	}
	out := make([]JobSummary, 0, len(b.Jobs))
	for _, j := range slices.Backward(b.Jobs) {
		if j.JobID != "" {
			out = append(out, j.JobSummary)
		}
	}
	return out, nil
}

// readers is how many job histories scanJobs reads at once.
const readers = 8

// scanJobs summarizes jobs with ids below before and submitted at or after
// since, newest first, passing each to keep until it returns false, and
// reads at most scan of them (DefaultJobsScan when 0). It reports whether
// it saw every such job (keep never said stop and scan was not reached).
func (c *Client) scanJobs(ctx context.Context, before string, since time.Time, scan int, keep func(JobSummary) bool) (bool, error) {
	if scan <= 0 {
		scan = DefaultJobsScan
	}
	floor := ""
	if !since.IsZero() {
		floor = jobIDBound(since)
	}
	read := 0
	for {
		keys, err := c.Journal.List(ctx, journal.ListOptions{Before: before, Limit: min(journal.MaxListLimit, scan-read)})
		if err != nil {
			return false, fmt.Errorf("listing jobs: %w", err)
		}
		var ids []string
		for _, k := range keys {
			if k < floor {
				break
			}
			if schemas.ValidJobID(k) {
				ids = append(ids, k)
			}
		}
		sums, err := c.summaries(ctx, ids)
		if err != nil {
			return false, err
		}
		read += len(keys)
		for _, s := range sums {
			if s.JobID == "" {
				continue // listed, but its journal holds nothing readable
			}
			if !keep(s) {
				return false, nil
			}
		}
		switch {
		case len(keys) == 0 || keys[len(keys)-1] < floor:
			return true, nil // reached the end or since
		case read >= scan:
			return false, nil
		}
		before = keys[len(keys)-1]
	}
}

// summaries reads and summarizes the jobs ids, a few at once, in order.
func (c *Client) summaries(ctx context.Context, ids []string) ([]JobSummary, error) {
	out := make([]JobSummary, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, readers)
	var wg sync.WaitGroup
	for i, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			evs, err := c.Journal.Read(ctx, id)
			switch {
			case errors.Is(err, journal.ErrNotFound):
			case err != nil:
				errs[i] = fmt.Errorf("reading the journal of job %s: %w", id, err)
			default:
				out[i] = Summarize(evs)
			}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// Job returns the summary of one job; journal.ErrNotFound when nothing
// has recorded it.
func (c *Client) Job(ctx context.Context, jobID string) (JobSummary, error) {
	evs, err := c.Status(ctx, jobID)
	if err != nil {
		return JobSummary{}, err
	}
	s := Summarize(evs)
	s.JobID = jobID
	return s, nil
}
