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
	// ErrDenied means the caller may not read task logs (on AWS, its IAM
	// policy grants no logs:GetLogEvents); asking again will not help.
	ErrDenied = errors.New("task log read denied")
)

// Source reads task logs.
type Source interface {
	// Read returns up to limit lines of the task's log with Seq greater
	// than afterSeq, in order. Seq is dense and 1-based. Fewer than limit
	// lines means the log holds no more for now.
	Read(ctx context.Context, taskID string, afterSeq int64, limit int) ([]schemas.LogLine, error)
}

// Appender is a Source that can put what Read returns in a slice the
// caller reuses, as append does: a follower reading a fast task's output
// (tens of reads of thousands of lines) then allocates no slice per read,
// and its collector runs that much less often. The follower uses it when
// its Source has it.
type Appender interface {
	Source
	// ReadAppend appends to dst the lines Read(ctx, taskID, afterSeq,
	// limit) returns, and returns the extended slice; on an error, dst
	// as it was. Lines already in dst are left as they are.
	ReadAppend(ctx context.Context, taskID string, afterSeq int64, limit int, dst []schemas.LogLine) ([]schemas.LogLine, error)
}
