package jobview

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/cli/detached"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// Attach follows a job to its end, printing it, and returns the error that
// carries the job's exit code (nil for 0). When no pipeline serves the
// state directory, it starts a detached server first (see EnsureServed),
// so one command is enough and the job ends even if this one is killed;
// pol is the policy already loaded (nil: load it when a server starts).
func Attach(ctx context.Context, f *factory.Factory, c *client.Client, pol *policy.Policy,
	job producer.Job, p *Printer, maxWait time.Duration) error {
	if err := EnsureServed(ctx, f, c, pol); err != nil {
		return err
	}
	stopServing := KeepServed(ctx, f, c, reserveEvery)
	defer stopServing()

	fctx := ctx
	if maxWait > 0 {
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(ctx, maxWait)
		defer cancel()
	}
	p.startLive()
	var heard atomic.Bool
	stopHint := hintIfSilent(p, &heard, silentHint, c.Where())
	onEvent, stopWaiting := waitingHint(fctx, p, c, job.ID, silentHint)
	defer stopWaiting()
	if p.Live() {
		stopWatch := watchLane(fctx, p, c, job.ID, laneEvery(c))
		defer stopWatch()
	}
	res, err := c.Follow(fctx, job.ID, client.FollowOptions{
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
		p.Unfinished(job.ID)
		return factory.Exit(producer.ExitGaveUp)
	case ctx.Err() != nil:
		p.Status("stopped following job %s; it keeps running. Re-attach with: deployer wait %s", job.ID, job.ID)
		p.Unfinished(job.ID)
		return factory.Exit(producer.ExitCancelled)
	default:
		p.Status("lost contact with job %s: %v", job.ID, err)
		p.Unfinished(job.ID)
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
// would otherwise look like a job that takes long). The returned stop
// cancels it.
func hintIfSilent(p *Printer, heard *atomic.Bool, d time.Duration, where string) (stop func()) {
	if p.JSON() || p.Quiet {
		return func() {}
	}
	t := time.AfterFunc(d, func() {
		if !heard.Load() {
			p.Status("no word about the job after %s: is the pipeline serving the %s running? Still waiting.", d, where)
		}
	})
	return func() { t.Stop() }
}

// EnsureServed makes sure a pipeline serves c before a command waits on
// it: when no "deployer up" and no detached server serves the embedded
// backend's state directory, it starts a detached server ("deployer up"
// in a session of its own, which stops once idle; f.StartServer replaces
// that in tests) and returns once it serves. A job whose server died is
// adopted by the new one. Call it after sending a request: a server about
// to stop idle either sees the request or has already given up serving.
//
// The configuration is loaded first (pol, when not nil, is the policy
// already loaded), so that a broken one fails here with exit 78 instead of
// in the server. On the AWS backend, which the deployment serves, it does
// nothing.
func EnsureServed(ctx context.Context, f *factory.Factory, c *client.Client, pol *policy.Policy) error {
	if c.Backend() != client.BackendEmbedded || c.ReadOnly() {
		// A state directory opened read-only is only looked at: its
		// owner serves it, or nobody does.
		return nil
	}
	if served, err := c.Served(); err != nil || served {
		return err
	}
	if pol == nil {
		if _, err := f.Policy(); err != nil {
			return err
		}
	}
	if f.StartServer != nil {
		return f.StartServer(ctx)
	}
	return detached.Start(f, c)
}

// BeginServing starts what EnsureServed would, without waiting for it to
// serve, for a command that sends a request meanwhile, and before the
// command loads its configuration and opens the state database: the
// server's start (its exec and its configuration's load, the longest wait
// of a run that finds no server) overlaps the command's load, open and
// send. A broken configuration stops the server it started (before that
// server could serve anything) and is the error, before anything is
// queued; the policy loaded is returned.
// The caller opens its client, sends its request, then calls the
// Starting's Wait before EnsureServed (the server holds the start lock
// until then), or Abandon when sending failed.
//
// It returns a nil Starting when it starts nothing: on the AWS backend,
// when a pipeline serves the state directory already, when this user
// cannot write it (opening it says so), or when tests replace the start
// (f.StartServer). EnsureServed then does what is needed.
func BeginServing(f *factory.Factory) (*detached.Starting, *policy.Policy, error) {
	if f.StartServer != nil {
		return nil, nil, nil
	}
	dir, err := f.UnopenedStateDir()
	if err != nil || dir == "" {
		return nil, nil, err
	}
	target := detached.Dir(dir)
	if served, err := target.Served(); err != nil || served {
		return nil, nil, err
	}
	s, err := detached.Begin(f, target)
	if err != nil || s == nil {
		return nil, nil, err
	}
	// The configuration loads while the server starts. The server loads
	// the same file and fails the same way when it is broken; one edited
	// between the two loads may have let it serve, and killing it then is
	// a crash its jobs are taken up again after (a server's visibility
	// timeout), as after any other.
	pol, err := f.Policy()
	if err != nil {
		if serr := s.Stop(); serr != nil {
			_, _ = fmt.Fprintf(f.IO.ErrOut, "%s: %v\n", f.ProgramName(), serr)
		}
		return nil, nil, err
	}
	return s, pol, nil
}

// reserveEvery is how often a follower makes sure its job is still
// served, so that a server that died is replaced while it follows.
const reserveEvery = 2 * time.Second

// KeepServed calls EnsureServed every d until stopped, reporting the
// first failure on f.IO.ErrOut. The returned stop waits for it to end.
func KeepServed(ctx context.Context, f *factory.Factory, c *client.Client, d time.Duration) (stop func()) {
	if c.Backend() != client.BackendEmbedded {
		return func() {}
	}
	kctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d)
		defer t.Stop()
		warned := false
		for {
			select {
			case <-kctx.Done():
				return
			case <-t.C:
			}
			if err := EnsureServed(kctx, f, c, nil); err != nil && !warned && kctx.Err() == nil {
				warned = true
				_, _ = fmt.Fprintf(f.IO.ErrOut, "%s: the pipeline serving the %s stopped, and no other could be started: %v\n", f.ProgramName(), c.Where(), err)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// EnsureServedOrWarn is EnsureServed for commands that only look at a job
// (status, logs): a failure is reported on f.IO.ErrOut, not returned, so
// that what they print and how they exit stay the same.
func EnsureServedOrWarn(ctx context.Context, f *factory.Factory, c *client.Client) {
	if err := EnsureServed(ctx, f, c, nil); err != nil {
		_, _ = fmt.Fprintf(f.IO.ErrOut, "%s: no pipeline serves the %s, and none could be started: %v\n", f.ProgramName(), c.Where(), err)
	}
}

// NoSuchJob is the error of a command given a job id the backend (where,
// as client.Client.Where names it) has no record of: exit 66.
func NoSuchJob(jobID, where string) error {
	return factory.NotFound(fmt.Errorf("no job %s in the %s: unknown, or not yet seen by the gatekeeper (see deployer jobs for the jobs it knows)", jobID, where))
}
