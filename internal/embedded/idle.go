package embedded

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/worker"
)

// DefaultIdleExit is how long a detached server stays idle before it
// stops (see ServeUntilIdle).
const DefaultIdleExit = 30 * time.Second

// ServeUntilIdle serves the pipeline as Serve does, marked as serving the
// state directory (see ServeLock) from before opts.Ready is called, and
// stops by itself once it has been idle for idle: its worker tracks no job
// and neither the request queue nor any lane run queue holds a message,
// visible, delayed or in flight. It then drains as Serve does when ctx
// ends, so it never leaves a job it took.
//
// Before stopping it gives up its mark and looks once more: a command
// that found the mark sent its request before the mark went, so that
// look sees it (and the server keeps serving, marked again); a command
// that found no mark starts a server of its own.
func (b *Backend) ServeUntilIdle(ctx context.Context, pol gatekeeper.Policy, opts backend.ServeOptions, idle time.Duration) error {
	if idle <= 0 {
		return fmt.Errorf("serving until idle: idle time %s is not positive", idle)
	}
	release, err := b.ServeLock()
	if err != nil {
		return err
	}
	log := opts.Logger
	if log == nil {
		log = b.logger
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	err = b.serve(sctx, pol, opts, func(w *worker.Worker) backend.Loop {
		return backend.Loop{Name: "idle watch", Run: func(ctx context.Context) error {
			// The loop has returned before serve does: release is
			// only read after it.
			release = b.watchIdle(ctx, w, idle, release, stop, log)
			return nil
		}}
	})
	release()
	return err
}

// idleCheck is how often a server stopping when idle looks: a tenth of
// its idle time, between 10ms and a second.
func idleCheck(idle time.Duration) time.Duration {
	return min(max(idle/10, 10*time.Millisecond), time.Second)
}

// watchIdle calls stop once the pipeline has been idle for idle (see
// ServeUntilIdle), and returns the release of the serve mark it then
// holds: a no-op when it gave it up.
func (b *Backend) watchIdle(ctx context.Context, w *worker.Worker, idle time.Duration, release, stop func(), log *slog.Logger) func() {
	t := time.NewTicker(idleCheck(idle))
	defer t.Stop()
	since := time.Now()
	for {
		select {
		case <-ctx.Done():
			return release
		case <-t.C:
		}
		ok, err := b.isIdle(ctx, w)
		if err != nil && ctx.Err() == nil {
			log.Warn("looking whether the pipeline is idle", "err", err)
		}
		if !ok {
			since = time.Now()
			continue
		}
		if time.Since(since) < idle {
			continue
		}
		release()
		if ok, err := b.isIdle(ctx, w); ok && err == nil {
			log.Info("idle: stopping", "idle", idle)
			stop()
			return func() {}
		}
		if release, err = b.ServeLock(); err != nil {
			// Serve on unmarked: commands start another server, and
			// several may serve at once.
			log.Warn("work arrived while stopping; serving on", "err", err)
			release = func() {}
		}
		since = time.Now()
	}
}

// isIdle reports whether w tracks no job and neither the request queue nor
// any lane run queue holds a message (visible, delayed or in flight).
func (b *Backend) isIdle(ctx context.Context, w *worker.Worker) (bool, error) {
	if w.Jobs() > 0 {
		return false, nil
	}
	// A job taken after this look keeps its run order in flight until it
	// ends, so the count below sees it.
	names, err := b.Broker.List(ctx, topology.LaneQueuePrefix)
	if err != nil {
		return false, err
	}
	n, err := b.Broker.Count(ctx, append(names, topology.RequestQueue)...)
	if err != nil {
		return false, err
	}
	return n == 0 && w.Jobs() == 0, nil
}
