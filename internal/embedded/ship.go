package embedded

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/internal/stream/sqlitestream"
	"github.com/deployerhq/deployer/internal/tasklog/sqlitelog"
	"github.com/deployerhq/deployer/logshipper"
)

// The embedded logshipper is a singleton per state directory: whoever
// holds this lease ships, and another pipeline takes over when it lapses.
const (
	shipperLease  = "__logshipper"
	shipperCursor = "logshipper"
	marksCursor   = "logshipper-marks"
	shipBatch     = 5000
	shipIdle      = 20 * time.Millisecond
	// shipIdleWatched is the poll when commits wake the shipper: a
	// safety net only.
	shipIdleWatched = time.Second
	shipLeaseTTL    = 10 * time.Second
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
	lease := &shipLease{b: b, holder: holder}
	idle := time.NewTimer(0)
	defer idle.Stop()
	// A supervisor appending lines commits to the state database: ship
	// them at once rather than at the next poll.
	watcher := sqlitedb.ChangesOf(ctx, b.DB).Watch()
	defer watcher.Close()
	changed := watcher.Next()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-idle.C:
		case <-changed:
			idle.Stop()
		}
		changed = watcher.Next() // before looking, so no append is missed
		n, err := b.shipOnce(ctx, shipper, lease, attempts)
		if err != nil && ctx.Err() == nil {
			log.Warn("shipping task logs", "err", err)
		}
		switch {
		case err != nil:
			idle.Reset(time.Second)
		case n == shipBatch:
			idle.Reset(0)
		case watcher.Watching():
			idle.Reset(shipIdleWatched)
		default:
			idle.Reset(shipIdle)
		}
	}
}

// shipLease is the shipper's hold on its lease, renewed a third of its
// life before it lapses rather than at every look: a look that finds
// nothing to ship then writes nothing, and so wakes nobody (itself
// included) through the state database's changes.
type shipLease struct {
	b       *Backend
	holder  string
	renewed time.Time
}

// held reports whether this process holds the lease, renewing it when due.
func (l *shipLease) held(ctx context.Context) (bool, error) {
	if !l.renewed.IsZero() && time.Since(l.renewed) < shipLeaseTTL/3 {
		return true, nil
	}
	at := time.Now()
	ok, err := l.b.Lanes.Acquire(ctx, shipperLease, 1, l.holder, shipLeaseTTL)
	if err != nil || !ok {
		l.renewed = time.Time{}
		return false, err
	}
	l.renewed = at
	return true, nil
}

// shipOnce tells the jobs' streams where their tasks' new lines are, and
// ships the lines an earlier version's supervisor stored one per row, if
// this process holds the lease. It returns how many entries it read.
func (b *Backend) shipOnce(ctx context.Context, shipper *logshipper.Shipper, lease *shipLease, attempts map[string]int) (int, error) {
	ok, err := lease.held(ctx)
	if err != nil || !ok {
		return 0, err
	}
	// Most commits that wake the shipper are not the task log's: one
	// read loads both cursors and says which table has anything past
	// its own.
	bl, err := b.Logs.Backlog(ctx, marksCursor, shipperCursor)
	if err != nil {
		return 0, err
	}
	var n, m int
	if bl.MarksBehind {
		if n, err = b.shipPositions(ctx, shipper, attempts, bl.Marks); err != nil {
			return n, err
		}
	}
	if bl.TailBehind {
		m, err = b.shipLines(ctx, shipper, attempts, bl.Tail)
	}
	return max(n, m), err
}

// shipPositions publishes, for each task with new batches in its log
// past cursor, one log event saying up to where its lines are (the last
// batch's seq): the task log is on this host, and followers read the
// lines from it.
func (b *Backend) shipPositions(ctx context.Context, shipper *logshipper.Shipper, attempts map[string]int, cursor int64) (int, error) {
	marks, err := b.Logs.Marks(ctx, cursor, shipBatch)
	if err != nil || len(marks) == 0 {
		return 0, err
	}
	var order []string
	last := map[string]sqlitelog.Mark{}
	for _, m := range marks {
		if _, ok := last[m.TaskID]; !ok {
			order = append(order, m.TaskID)
		}
		if m.Seq > last[m.TaskID].Seq {
			last[m.TaskID] = m
		}
	}
	batches := make([]logshipper.Batch, len(order))
	for i, id := range order {
		m := last[id]
		attempt, err := b.attemptOf(ctx, m.TaskID, attempts)
		if err != nil {
			return 0, err
		}
		batches[i] = logshipper.Batch{JobID: m.JobID, Attempt: attempt, TaskID: m.TaskID, Stream: sqlitestream.Address(m.JobID)}
	}
	// The positions and the cursor past them are one write: none is
	// shipped twice, and each follower is woken once.
	err = b.Together(ctx, func(ctx context.Context) error {
		for _, bt := range batches {
			if err := shipper.ShipPosition(ctx, bt, last[bt.TaskID].Seq); err != nil {
				return err
			}
		}
		return b.Logs.SaveCursor(ctx, marksCursor, marks[len(marks)-1].Cursor)
	})
	if err != nil {
		return 0, err
	}
	return len(marks), nil
}

// shipLines ships the lines an earlier version's supervisor stored one
// per row (a task it still runs) past cursor as copies, as that version
// did.
func (b *Backend) shipLines(ctx context.Context, shipper *logshipper.Shipper, attempts map[string]int, cursor int64) (int, error) {
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
