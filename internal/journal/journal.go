// Package journal is the port for each job's durable history: the status
// events (not the log lines) of every stage, kept after the job's stream
// is gone, for "deployer status", "deployer logs" and audit. Adapters:
// sqlitejournal, cwjournal (one CloudWatch Logs stream per job).
// journaltest is the conformance suite.
package journal

import (
	"context"
	"errors"

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
