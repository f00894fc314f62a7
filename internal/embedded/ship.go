package embedded

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/deployerhq/deployer/internal/stream/sqlitestream"
	"github.com/deployerhq/deployer/logshipper"
)

// The embedded logshipper is a singleton per state directory: whoever
// holds this lease ships, and another pipeline takes over when it lapses.
const (
	shipperLease  = "__logshipper"
	shipperCursor = "logshipper"
	shipBatch     = 5000
	shipIdle      = 20 * time.Millisecond
	shipLeaseTTL  = 10 * time.Second
)

// shipLogs tails the task log table from a persisted cursor and ships new
// lines to their jobs' streams with the same Shipper the Lambda uses. A
// crash between shipping and saving the cursor ships lines again, which
// followers drop as duplicates.
func (b *Backend) shipLogs(ctx context.Context, log *slog.Logger) error {
	shipper := &logshipper.Shipper{Streams: b.Streams}
	var tok [6]byte
	_, _ = rand.Read(tok[:])
	holder := "logshipper/" + hex.EncodeToString(tok[:])
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = b.Lanes.Release(rctx, shipperLease, holder)
	}()
	attempts := map[string]int{}
	idle := time.NewTimer(0)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-idle.C:
		}
		n, err := b.shipOnce(ctx, shipper, holder, attempts)
		if err != nil && ctx.Err() == nil {
			log.Warn("shipping task logs", "err", err)
		}
		switch {
		case err != nil:
			idle.Reset(time.Second)
		case n == shipBatch:
			idle.Reset(0)
		default:
			idle.Reset(shipIdle)
		}
	}
}

// shipOnce ships the next batch of lines, if this process holds the lease,
// and returns how many it read.
func (b *Backend) shipOnce(ctx context.Context, shipper *logshipper.Shipper, holder string, attempts map[string]int) (int, error) {
	ok, err := b.Lanes.Acquire(ctx, shipperLease, 1, holder, shipLeaseTTL)
	if err != nil || !ok {
		return 0, err
	}
	cursor, err := b.Logs.LoadCursor(ctx, shipperCursor)
	if err != nil {
		return 0, err
	}
	entries, err := b.Logs.Tail(ctx, cursor, shipBatch)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	var order []string
	batches := map[string]*logshipper.Batch{}
	for _, e := range entries {
		bt := batches[e.TaskID]
		if bt == nil {
			attempt, err := b.attemptOf(ctx, e.TaskID, attempts)
			if err != nil {
				return 0, err
			}
			bt = &logshipper.Batch{JobID: e.JobID, Attempt: attempt, TaskID: e.TaskID, Stream: sqlitestream.Address(e.JobID)}
			batches[e.TaskID] = bt
			order = append(order, e.TaskID)
		}
		bt.Lines = append(bt.Lines, e.Line)
	}
	for _, id := range order {
		if err := shipper.Ship(ctx, *batches[id]); err != nil {
			return 0, err
		}
	}
	return len(entries), b.Logs.SaveCursor(ctx, shipperCursor, entries[len(entries)-1].Cursor)
}

// attemptOf finds which attempt of its job a task runs, from the runner.
func (b *Backend) attemptOf(ctx context.Context, taskID string, cache map[string]int) (int, error) {
	if a, ok := cache[taskID]; ok {
		return a, nil
	}
	tasks, err := b.Runner.Inspect(ctx, taskID)
	if err != nil {
		return 0, err
	}
	a := 1
	if len(tasks) == 1 && tasks[0].Attempt > 0 {
		a = tasks[0].Attempt
	}
	if len(cache) > 10000 {
		clear(cache)
	}
	cache[taskID] = a
	return a, nil
}
