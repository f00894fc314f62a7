package producer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/schemas"
)

// BatchRequest is a batch a caller asks for: jobs that share one batch
// id, each checked by the gatekeeper on its own.
type BatchRequest struct {
	Name        string
	MaxInFlight int
	FailFast    bool
	Jobs        []BatchJobRequest
	Caller      schemas.CallerMetadata
	// MaxWait is how long the caller may follow the batch (see Request).
	MaxWait time.Duration
}

// BatchJobRequest is one job of a batch.
type BatchJobRequest struct {
	Container, Script string
	Args              []string
	// Key names the job within the batch (its matrix values).
	Key        string
	Timeout    time.Duration
	TaskCPU    int
	TaskMemory int
}

// SubmitBatch submits every job of a batch, in order, under one fresh
// batch id. Job ids increase with the jobs' order, so that a lane serves
// the batch's jobs in that order. When a job cannot be submitted the jobs
// already submitted are cancelled (the cancels are waited for, at most
// cancelWait), and the error says what became of them: a batch is
// submitted whole or not at all.
func (c *Client) SubmitBatch(ctx context.Context, r BatchRequest) (string, []Job, error) {
	if n := len(r.Jobs); n < 1 || n > schemas.MaxBatchJobs {
		return "", nil, fmt.Errorf("a batch has 1 to %d jobs, not %d: %w", schemas.MaxBatchJobs, n, schemas.ErrMalformed)
	}
	batchID := NewBatchID()
	ids := newJobIDs(len(r.Jobs))
	jobs := make([]Job, 0, len(r.Jobs))
	for i, j := range r.Jobs {
		job, err := c.Submit(ctx, Request{
			Container: j.Container, Script: j.Script, Args: j.Args,
			TaskCPU: j.TaskCPU, TaskMemory: j.TaskMemory, Timeout: j.Timeout,
			Caller: r.Caller, MaxWait: r.MaxWait, JobID: ids[i],
			BatchID: batchID,
			Batch: &schemas.BatchSpec{
				Name: r.Name, Size: len(r.Jobs), Index: i + 1, Key: j.Key,
				MaxInFlight: r.MaxInFlight, FailFast: r.FailFast,
			},
		})
		if err != nil {
			err = fmt.Errorf("submitting job %d of %d of batch %s: %w", i+1, len(r.Jobs), batchID, err)
			return batchID, jobs, errors.Join(err, c.cancelSubmitted(ctx, jobs))
		}
		jobs = append(jobs, job)
	}
	return batchID, jobs, nil
}

// cancelWait bounds how long a batch that could not be submitted whole
// waits for the cancels of the jobs it submitted.
const cancelWait = time.Minute

// cancelSubmitted cancels the jobs of a batch that could not be submitted
// whole, and says which it could not cancel.
func (c *Client) cancelSubmitted(ctx context.Context, jobs []Job) error {
	if len(jobs) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelWait)
	defer cancel()
	var (
		mu     sync.Mutex
		failed []error
		wg     sync.WaitGroup
	)
	for _, j := range jobs {
		wg.Go(func() {
			a, err := c.Cancel(cctx, j.ID, CancelOptions{Reason: "its batch could not be submitted whole"})
			if err == nil && !a.Accepted && a.ReasonCode != "already_finished" {
				err = fmt.Errorf("%s: %s", a.ReasonCode, a.Reason)
			}
			if err != nil {
				mu.Lock()
				failed = append(failed, fmt.Errorf("cancelling job %s: %w", j.ID, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		return fmt.Errorf("%d of the %d jobs submitted before could not be cancelled: %w", len(failed), len(jobs), errors.Join(failed...))
	}
	return fmt.Errorf("the %d jobs submitted before were cancelled", len(jobs))
}

// newJobIDs returns n fresh job ids in increasing order.
func newJobIDs(n int) []string {
	entropy := ulid.Monotonic(rand.Reader, 0)
	now := ulid.Now()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = ulid.MustNew(now, entropy).String()
	}
	return ids
}

// Batch is what a batch's journal says of it: its spec and each job's
// state, by position.
type Batch struct {
	ID          string
	Name        string
	MaxInFlight int
	FailFast    bool
	// Principal is who submitted it.
	Principal string
	// Jobs has one entry per position of the batch (Size of them); the
	// jobs the journal has no word of yet have no JobID.
	Jobs []BatchJob
	// Since is when the batch's first event was recorded.
	Since time.Time
}

// BatchJob is one job of a batch, as its batch's journal tells it.
type BatchJob struct {
	// Index is the job's 1-based position in the batch, Key its name in
	// it (its matrix values; may be empty).
	Index int
	Key   string
	JobSummary
	// Terminal is the job's terminal event, once it ended.
	Terminal *schemas.JobEvent
}

// Ended reports whether every job of the batch has ended.
func (b Batch) Ended() bool {
	if len(b.Jobs) == 0 {
		return false
	}
	for _, j := range b.Jobs {
		if j.Terminal == nil {
			return false
		}
	}
	return true
}

// Count returns how many of the batch's jobs are in each state.
func (b Batch) Count() map[JobState]int {
	n := map[JobState]int{}
	for _, j := range b.Jobs {
		n[j.State]++
	}
	return n
}

// ExitCode is the exit code of "deployer batch run" for an ended batch:
// 0 when every job succeeded; else the exit code "deployer run" gives the
// first job that failed (by end time), leaving aside the jobs fail_fast
// or a person cancelled; else ExitCancelled.
func (b Batch) ExitCode() int {
	var first *schemas.JobEvent
	cancelled := false
	for _, j := range b.Jobs {
		switch {
		case j.Terminal == nil:
			continue
		case j.Terminal.Outcome == schemas.OutcomeCancelled:
			cancelled = true
		case j.Terminal.Outcome != schemas.OutcomeSucceeded:
			if first == nil || j.Terminal.Time.Before(first.Time) {
				first = j.Terminal
			}
		}
	}
	switch {
	case first != nil:
		return ExitCode(*first)
	case cancelled:
		return ExitCancelled
	}
	return 0
}

// FirstFailed returns the job whose end gives ExitCode, if any failed.
func (b Batch) FirstFailed() (BatchJob, bool) {
	var out BatchJob
	found := false
	for _, j := range b.Jobs {
		t := j.Terminal
		if t == nil || t.Outcome == schemas.OutcomeSucceeded || t.Outcome == schemas.OutcomeCancelled {
			continue
		}
		if !found || t.Time.Before(out.Terminal.Time) {
			out, found = j, true
		}
	}
	return out, found
}

// ReadBatch reads a batch from its journal (one read); journal.ErrNotFound
// (wrapped) when the journal has no word of it.
func (c *Client) ReadBatch(ctx context.Context, batchID string) (Batch, []schemas.JobEvent, error) {
	if !schemas.ValidBatchID(batchID) {
		return Batch{}, nil, fmt.Errorf("%q is not a batch id (batch-<ULID>): %w", batchID, schemas.ErrMalformed)
	}
	evs, err := c.Journal.Read(ctx, batchID)
	if err != nil {
		return Batch{}, nil, fmt.Errorf("reading batch %s: %w", batchID, err)
	}
	return BatchFromEvents(batchID, evs), evs, nil
}

// BatchFromEvents makes a batch of its journal's events.
func BatchFromEvents(batchID string, evs []schemas.JobEvent) Batch {
	b := Batch{ID: batchID}
	byJob := map[string][]schemas.JobEvent{}
	var order []string
	size := 0
	for _, ev := range evs {
		if ev.BatchID != batchID || !schemas.ValidJobID(ev.JobID) {
			continue
		}
		if b.Since.IsZero() || ev.Time.Before(b.Since) {
			b.Since = ev.Time
		}
		if _, ok := byJob[ev.JobID]; !ok {
			order = append(order, ev.JobID)
		}
		byJob[ev.JobID] = append(byJob[ev.JobID], ev)
		if s := ev.Batch; s != nil {
			if b.Name == "" {
				b.Name, b.MaxInFlight, b.FailFast, b.Principal = s.Name, s.MaxInFlight, s.FailFast, ev.Principal
			}
			size = max(size, s.Size)
		}
	}
	size = min(size, schemas.MaxBatchJobs)
	b.Jobs = make([]BatchJob, size)
	for i := range b.Jobs {
		b.Jobs[i] = BatchJob{Index: i + 1, JobSummary: JobSummary{State: StateUnknown}}
	}
	for _, id := range order {
		j := batchJob(byJob[id])
		if j.Index < 1 || j.Index > size {
			continue
		}
		if prev := b.Jobs[j.Index-1]; prev.JobID != "" && prev.JobID < j.JobID {
			continue // two jobs claim one position: the first submitted keeps it
		}
		b.Jobs[j.Index-1] = j
	}
	return b
}

// batchJob makes one job of its events in a batch's journal.
func batchJob(evs []schemas.JobEvent) BatchJob {
	j := BatchJob{JobSummary: Summarize(evs)}
	for _, ev := range evs {
		if s := ev.Batch; s != nil {
			j.Index, j.Key = s.Index, s.Key
			break
		}
	}
	if t, ok := Terminal(evs); ok && j.State.Ended() {
		j.Terminal = &t
	}
	return j
}

// Batches returns the most recent batches the journal holds, newest
// first, at most limit (journal.DefaultListLimit when 0): one listing,
// then one read per batch.
func (c *Client) Batches(ctx context.Context, limit int) ([]Batch, error) {
	ids, err := c.Journal.List(ctx, journal.ListOptions{Prefix: schemas.BatchIDPrefix, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("listing batches: %w", err)
	}
	out := make([]Batch, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, readers)
	var wg sync.WaitGroup
	for i, id := range ids {
		if !schemas.ValidBatchID(id) {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i], _, errs[i] = c.ReadBatch(ctx, id)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(out, func(b Batch) bool { return b.ID == "" }), nil
}

// How often "deployer batch" reads a batch's journal while it follows
// it: often on the embedded backend, where a read is a query; every few
// seconds on AWS, where a read is one or two GetLogEvents calls, which
// cost and are throttled: following a batch of any size then costs no
// more than following 5 single jobs (see BenchmarkFollowBatchCalls).
const (
	BatchPollEmbedded = 250 * time.Millisecond
	BatchPollAWS      = 10 * time.Second
)

// FollowBatch reads the batch's journal every interval, calling onUpdate
// with what it reads, until every job of the batch has ended (it returns
// the ended batch) or ctx ends (ctx's error). One read per interval
// follows the whole batch, however many jobs it has; their output is read
// on demand (Replay). A batch the journal has no word of yet is waited
// for; other read errors go to onError and are retried.
func (c *Client) FollowBatch(ctx context.Context, batchID string, every time.Duration,
	onUpdate func(Batch, []schemas.JobEvent), onError func(error)) (Batch, error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		b, evs, err := c.ReadBatch(ctx, batchID)
		switch {
		case err == nil:
			onUpdate(b, evs)
			if b.Ended() {
				return b, nil
			}
		case errors.Is(err, schemas.ErrMalformed):
			return Batch{}, err
		case errors.Is(err, journal.ErrNotFound):
		case ctx.Err() == nil && onError != nil:
			onError(err)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return Batch{}, ctx.Err()
		}
	}
}
