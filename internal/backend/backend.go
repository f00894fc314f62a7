// Package backend is what the deployer commands see of a backend, whichever
// it is: the embedded one on a state directory (internal/embedded) or AWS
// (internal/awsbackend). Both hand out the same producer client and dead-
// letter queues over their adapters of the ports, and both can serve the
// pipeline (gatekeeper, worker, logshipper) in the calling process.
package backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/worker"
)

// Backend is an opened backend.
type Backend interface {
	// Client returns a producer client on the backend's ports.
	Client() *producer.Client
	// StreamAddress is the address of a job's stream.
	StreamAddress(jobID string) string
	// DeadLetterQueues returns the request and run dead-letter queues.
	DeadLetterQueues() (requests, runs queue.Queue)
	// Served reports whether a pipeline serves the backend now (a
	// "deployer up", or the AWS deployment), so that a command need not
	// serve one itself.
	Served() (bool, error)
	// Serve runs the gatekeeper, a worker and the logshipper in this
	// process until ctx ends, then drains (see worker.Options.DrainTimeout).
	Serve(ctx context.Context, pol gatekeeper.Policy, opts ServeOptions) error
	// Where names the backend in messages ("state directory /x",
	// "AWS us-east-1, prefix deployer-").
	Where() string
	// Close releases what Open took.
	Close() error
}

// ServeOptions tune Serve.
type ServeOptions struct {
	Worker worker.Options
	// Visibility hides a request while the gatekeeper handles it. Defaults
	// to worker.DefaultVisibility.
	Visibility time.Duration
	Logger     *slog.Logger
	// Abort, when closed, makes a draining worker hand its jobs back at
	// once.
	Abort <-chan struct{}
	// Ready, when set, is called once the pipeline is set up (its queues
	// opened) and about to serve.
	Ready func()
	// Loops are served beside the pipeline's own (the scheduler).
	Loops []Loop
	// Decisions is told of the gatekeeper's decisions, for metrics
	// (Worker.Observer is told of the jobs' ends). Optional.
	Decisions gatekeeper.Observer
	// Tracer starts the gatekeeper's decision spans (Worker.Tracer the
	// worker's). Defaults to a no-op tracer.
	Tracer trace.Tracer
}

// Loop is a named long-running part of a served pipeline (the logshipper,
// a janitor). It returns when ctx ends.
type Loop struct {
	Name string
	Run  func(ctx context.Context) error
}

// Serve runs the gatekeeper on requests, the worker and the extra loops
// until ctx ends, then waits for the worker to drain; a close of
// opts.Abort makes the draining worker hand its jobs back at once. Every
// backend's Serve is this, with its own ports.
func Serve(ctx context.Context, g *gatekeeper.Gatekeeper, requests queue.Queue, w *worker.Worker, opts ServeOptions, loops ...Loop) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(loops)+2)
	run := func(name string, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	vis := opts.Visibility
	if vis <= 0 {
		vis = worker.DefaultVisibility
	}
	if opts.Ready != nil {
		opts.Ready()
	}
	run("gatekeeper", func() error {
		return g.Serve(ctx, requests, gatekeeper.ServeOptions{Visibility: vis})
	})
	run("worker", func() error { return w.Run(ctx) })
	for _, l := range append(loops, opts.Loops...) {
		run(l.Name, func() error { return l.Run(ctx) })
	}
	done := make(chan struct{})
	if opts.Abort != nil {
		go func() {
			select {
			case <-opts.Abort:
				w.Abort()
			case <-done:
			}
		}()
	}
	wg.Wait()
	close(done)
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// Lanes lists every lane a configuration uses, and the cancel lane, so
// that a serving pipeline can create their run queues before the first
// job (and workers find the cancel queue before the first cancel).
func Lanes(c schemas.Config) []string {
	seen := map[string]bool{}
	var out []string
	add := func(l string) {
		if l == "" {
			l = schemas.DefaultLane
		}
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	for name := range c.Lanes {
		add(name)
	}
	for _, ct := range c.Containers {
		add(ct.Lane)
	}
	add(topology.CancelLane)
	return out
}

// Chore is one clean-up of a janitor: Run removes what is due and says
// how many things it removed. What names them in logs ("expired job
// streams").
type Chore struct {
	What string
	Run  func(ctx context.Context) (int, error)
}

// JanitorFirst is how long after a server starts its janitor first runs.
// Not at once: the first job of a server is waiting as it starts (the run
// that started a detached one is), and the chores' reads, writes and
// directory walks took the CPU and the database's write lock from it, ~3
// ms of a self-served no-op run; see docs/performance.md.
const JanitorFirst = 10 * time.Second

// Janitor runs the chores first after it starts and then every interval
// until ctx ends, logging what they removed and why they failed.
func Janitor(ctx context.Context, log *slog.Logger, first, every time.Duration, chores ...Chore) {
	wait := time.NewTimer(first)
	select {
	case <-ctx.Done():
		wait.Stop()
		return
	case <-wait.C:
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for _, c := range chores {
			if n, err := c.Run(ctx); err != nil && ctx.Err() == nil {
				log.Warn("janitor: removing "+c.What, "err", err)
			} else if n > 0 {
				log.Info("janitor: removed "+c.What, "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
