// Package journal is the port for each job's durable history: the status
// events (not the log lines) of every stage, kept after the job's stream
// is gone, for "deployer status", "deployer logs" and audit. Adapters:
// sqlitejournal, cwjournal (one CloudWatch Logs stream per job).
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
