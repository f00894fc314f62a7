package jobview

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// Attach follows a job to its end, printing it, and returns the error that
// carries the job's exit code (nil for 0). When no "deployer up" serves the
// state directory, it runs the pipeline in this process meanwhile, so one
// command is enough; pol is the policy that pipeline uses (nil: load it).
func Attach(ctx context.Context, f *factory.Factory, b backend.Backend, pol *policy.Policy,
	job producer.Job, p *Printer, maxWait time.Duration) error {
	stop, err := ServeIfIdle(ctx, f, b, pol)
	if err != nil {
		return err
	}
	defer stop()

	fctx := ctx
	if maxWait > 0 {
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(ctx, maxWait)
		defer cancel()
	}
	client := b.Client()
	var heard atomic.Bool
	stopHint := hintIfSilent(f.IO.ErrOut, p, &heard, silentHint, b.Where())
	onEvent, stopWaiting := waitingHint(fctx, f.IO.ErrOut, p, client, job.ID, silentHint)
	defer stopWaiting()
	res, err := client.Follow(fctx, job, producer.FollowOptions{
		OnLine: func(attempt int, l schemas.LogLine) { heard.Store(true); p.Line(job.ID, attempt, l) },
		OnEvent: func(ev schemas.JobEvent) {
			heard.Store(true)
			onEvent(ev)
			p.Event(ev)
		},
		OnBatch: p.Flush,
	})
	stopHint()
	p.Flush()
	switch {
	case err == nil:
	case errors.Is(err, producer.ErrStreamGone):
		return err
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		p.Status("gave up waiting after %s; job %s keeps running. Re-attach with: deployer wait %s", maxWait, job.ID, job.ID)
		return factory.Exit(producer.ExitGaveUp)
	case ctx.Err() != nil:
		p.Status("stopped following job %s; it keeps running. Re-attach with: deployer wait %s", job.ID, job.ID)
		return factory.Exit(producer.ExitCancelled)
	default:
		p.Status("lost contact with job %s: %v", job.ID, err)
		return factory.Exit(producer.ExitGaveUp)
	}
	if res.Missing > 0 {
		p.Status("warning: %d of the task's lines never arrived; see deployer logs %s", res.Missing, job.ID)
	}
	if code := producer.ExitCode(res.Terminal); code != 0 {
		return factory.Exit(code)
	}
	return nil
}

// silentHint is how long a follower waits for the first word from the
// pipeline before it says that nothing answers.
const silentHint = time.Minute

// hintIfSilent prints, once, a status line naming the pipeline when
// nothing was heard of the job after d (a gatekeeper that is not running
// would otherwise look like a job that takes long). It writes to errOut
// directly, never to the printer's buffered output, so it is safe beside
// a running Follow. The returned stop cancels it.
func hintIfSilent(errOut io.Writer, p *Printer, heard *atomic.Bool, d time.Duration, where string) (stop func()) {
	if p.JSON || p.Quiet {
		return func() {}
	}
	t := time.AfterFunc(d, func() {
		if !heard.Load() {
			_, _ = fmt.Fprintf(errOut, "deployer: no word about the job after %s: is the pipeline serving the %s running? Still waiting.\n", d, where)
		}
	})
	return func() { t.Stop() }
}

// ServeIfIdle runs the embedded pipeline in this process when no "deployer
// up" serves the state directory. The returned stop ends it, handing back
// any job it took that has not ended.
func ServeIfIdle(ctx context.Context, f *factory.Factory, b backend.Backend, pol *policy.Policy) (stop func(), err error) {
	serving, err := b.Served()
	if err != nil {
		return nil, err
	}
	if serving {
		return func() {}, nil
	}
	if pol == nil {
		if pol, err = f.Policy(); err != nil {
			return nil, err
		}
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := b.Serve(sctx, pol, backend.ServeOptions{}); err != nil {
			_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: pipeline: %v\n", err)
		}
	}()
	return func() { cancel(); wg.Wait() }, nil
}
