// Package tasklog is the port for a task's own log: every line the task
// wrote, stdout and stderr merged in order, with timestamps and ids. It is
// the source of truth the follower fills gaps from and "deployer logs" reads
// after the fact. Adapters: sqlitelog (fed by the local runner), cwlogs
// (CloudWatch Logs). tasklogtest is the conformance suite.
package tasklog

import (
	"context"
	"errors"

	"github.com/deployerhq/deployer/schemas"
)

var (
	// ErrNotFound means the task has no log (yet).
	ErrNotFound = errors.New("task log not found")
	// ErrThrottled means the backend asked the caller to slow down; retryable.
	ErrThrottled = errors.New("task log throttled")
)

// Source reads task logs.
type Source interface {
	// Read returns up to limit lines of the task's log with Seq greater
	// than afterSeq, in order. Seq is dense and 1-based. Fewer than limit
	// lines means the log holds no more for now.
	Read(ctx context.Context, taskID string, afterSeq int64, limit int) ([]schemas.LogLine, error)
}
