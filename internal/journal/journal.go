// Package journal is the port for each job's durable history: the status
// events (not the log lines) of every stage, kept after the job's stream
// is gone, for "deployer status", "deployer logs" and audit. Adapters:
// sqlitejournal, cwjournal (one CloudWatch Logs stream per job). Keys are
// job ids and batch ids; List walks them newest first, for "deployer jobs".
// journaltest is the conformance suite.
package journal

import (
	"context"
	"errors"
	"fmt"

	"github.com/deployerhq/deployer/schemas"
)

// ErrNotFound means the journal has nothing for the job.
var ErrNotFound = errors.New("job not found in journal")

// Journal appends and reads job histories.
type Journal interface {
	// Append records events of one job. Appending an event whose ID the
	// journal already holds for that job is a no-op.
	Append(ctx context.Context, jobID string, events ...schemas.JobEvent) error
	// Read returns the job's events in the order they were appended;
	// ErrNotFound when there are none.
	Read(ctx context.Context, jobID string) ([]schemas.JobEvent, error)
	// List returns the keys (job ids, batch ids) the journal holds events
	// of that start with opts.Prefix and sort strictly before opts.Before
	// when it is set, in descending byte order (newest first for ULIDs),
	// at most opts.Limit of them. A key appended to is listed once its
	// events can be read.
	List(ctx context.Context, opts ListOptions) ([]string, error)
}

// Limits of one List call.
const (
	// DefaultListLimit is how many keys List returns when ListOptions.Limit
	// is not set.
	DefaultListLimit = 100
	// MaxListLimit is the most keys one List call returns.
	MaxListLimit = 1000
)

// ListOptions select the keys List returns.
type ListOptions struct {
	// Prefix keeps the keys that start with it ("batch-" for batches, a
	// ULID's leading characters for jobs of a time range). Defaults to
	// every key.
	Prefix string
	// Before keeps the keys that sort strictly before it; a page ends
	// at its last key, which is the next page's Before. Defaults to no
	// bound.
	Before string
	// Limit is the most keys returned. Defaults to DefaultListLimit; more
	// than MaxListLimit is MaxListLimit.
	Limit int
}

// MaxKeys is the number of keys a List call with o returns at most.
func (o ListOptions) MaxKeys() int {
	switch {
	case o.Limit <= 0:
		return DefaultListLimit
	case o.Limit > MaxListLimit:
		return MaxListLimit
	}
	return o.Limit
}

// Record appends a job's events to its journal and, for a job of a batch
// (batchID set), its state events to the batch's journal too, keyed by the
// batch id: the batch's journal is how its jobs are followed with one
// read. Log lines and heartbeats stay in the job's journal only. A batch's
// journal holds events of many jobs, whose ids are unique only within a
// job, so each is copied with its job id before its own (see BatchEventID).
func Record(ctx context.Context, j Journal, jobID, batchID string, events ...schemas.JobEvent) error {
	if err := j.Append(ctx, jobID, events...); err != nil {
		return err
	}
	if batchID == "" {
		return nil
	}
	var copies []schemas.JobEvent
	for _, ev := range events {
		if ev.Type == schemas.EventLog || ev.Type == schemas.EventHeartbeat {
			continue
		}
		ev.ID = BatchEventID(jobID, ev.ID)
		ev.BatchID = batchID
		copies = append(copies, ev)
	}
	if len(copies) == 0 {
		return nil
	}
	if err := j.Append(ctx, batchID, copies...); err != nil {
		return fmt.Errorf("journaling events of job %s in its batch %s: %w", jobID, batchID, err)
	}
	return nil
}

// BatchEventID is the id of a job's event in its batch's journal.
func BatchEventID(jobID, eventID string) string { return jobID + "/" + eventID }
