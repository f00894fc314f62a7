package awsbackend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/internal/stream/sqsstream"
	"github.com/deployerhq/deployer/internal/tasklog"
	"github.com/deployerhq/deployer/logshipper"
	"github.com/deployerhq/deployer/schemas"
)

// Serve runs the whole pipeline in this process, without Lambdas: the
// gatekeeper long-polls the request queue, a worker runs ECS tasks, and a
// logshipper reads the CloudWatch log streams of the tasks this worker
// tracks (instead of a subscription filter) — for small installations and
// for testing against emulators. A janitor deletes expired job streams.
func (b *Backend) Serve(ctx context.Context, pol gatekeeper.Policy, opts backend.ServeOptions) error {
	log := opts.Logger
	if log == nil {
		log = b.Options.Logger
	}
	if lp, ok := pol.(interface{ Config() schemas.Config }); ok {
		for _, name := range backend.Lanes(lp.Config()) {
			if _, err := b.RunQueue(ctx, name); err != nil {
				if ctx.Err() != nil {
					return nil // stopped while setting up: nothing was served
				}
				return fmt.Errorf("opening run queue of lane %s: %w", name, err)
			}
		}
	}
	if err := b.RequireDeadLetters(); err != nil {
		return err
	}
	g := b.Gatekeeper(pol)
	g.Logger, g.Observer, g.Tracer = log, opts.Decisions, opts.Tracer
	reg := &tracked{Runner: b.Runner, tasks: map[string]*shipState{}}
	wo := opts.Worker
	if wo.Logger == nil {
		wo.Logger = log
	}
	w, err := b.Worker(wo, reg)
	if err != nil {
		return err
	}
	s := &shipper{logs: b.Logs, reg: reg, ship: &logshipper.Shipper{Streams: b.Streams}, log: log, every: time.Second}
	return backend.Serve(ctx, g, b.requests, w, opts,
		backend.Loop{Name: "logshipper", Run: s.run},
		backend.Loop{Name: "janitor", Run: func(ctx context.Context) error { b.Janitor(ctx, log); return nil }},
	)
}

// janitorEvery is how often expired job streams are deleted.
const janitorEvery = 10 * time.Minute

// Janitor deletes expired job streams backend.JanitorFirst after start
// and every janitorEvery until ctx ends: what Serve and every worker
// daemon run beside the worker.
func (b *Backend) Janitor(ctx context.Context, log *slog.Logger) {
	backend.Janitor(ctx, log, backend.JanitorFirst, janitorEvery, backend.Chore{What: "expired job streams", Run: func(ctx context.Context) (int, error) {
		return b.Streams.DeleteExpired(ctx, time.Now())
	}})
}

// tracked is the worker's runner, recording every task the worker starts,
// adopts or inspects so the in-process logshipper knows whose logs to read.
type tracked struct {
	runner.Runner
	mu    sync.Mutex
	tasks map[string]*shipState
}

type shipState struct {
	task    runner.Task
	shipped int64     // highest seq shipped
	quiet   time.Time // when a read of a stopped task last found nothing new
}

func (r *tracked) note(ts ...runner.Task) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range ts {
		if t.ID == "" || t.JobID == "" {
			continue
		}
		if s := r.tasks[t.ID]; s != nil {
			s.task = t
			continue
		}
		r.tasks[t.ID] = &shipState{task: t}
	}
}

func (r *tracked) Start(ctx context.Context, spec runner.Spec) (runner.Task, error) {
	t, err := r.Runner.Start(ctx, spec)
	if err == nil {
		r.note(t)
	}
	return t, err
}

func (r *tracked) Find(ctx context.Context, jobID string, attempt int) (runner.Task, error) {
	t, err := r.Runner.Find(ctx, jobID, attempt)
	if err == nil {
		r.note(t)
	}
	return t, err
}

func (r *tracked) Inspect(ctx context.Context, ids ...string) ([]runner.Task, error) {
	ts, err := r.Runner.Inspect(ctx, ids...)
	if err == nil {
		r.note(ts...)
	}
	return ts, err
}

// snapshot returns the tasks to read, as copies.
func (r *tracked) snapshot() []shipState {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]shipState, 0, len(r.tasks))
	for _, s := range r.tasks {
		out = append(out, *s)
	}
	return out
}

func (r *tracked) update(id string, fn func(*shipState)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.tasks[id]; s != nil {
		fn(s)
	}
}

func (r *tracked) forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.tasks, id)
}

// shipper reads the task log of every tracked task every interval and
// ships new lines to the job's stream with the sequence numbers
// deployer-task gave them (the same identity the Lambda logshipper ships
// them with), until the log's end record.
type shipper struct {
	logs  tasklog.Source
	reg   *tracked
	ship  *logshipper.Shipper
	log   *slog.Logger
	every time.Duration
	next  int // where the next tick starts reading, in task id order
}

// linger is how long a stopped task's log is still read after a read found
// nothing new: the awslogs driver delivers the last lines after the task
// stopped.
const linger = 30 * time.Second

func (s *shipper) run(ctx context.Context) error {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		s.tick(ctx)
	}
}

// tick reads and ships the tracked tasks' new lines once.
func (s *shipper) tick(ctx context.Context) {
	// CloudWatch Logs limits GetLogEvents per account and Region, so a
	// tick reads at most readsPerTick times, going round the tracked tasks
	// from where the last tick stopped.
	tasks := s.reg.snapshot()
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].task.ID < tasks[j].task.ID })
	budget, visited := readsPerTick, 0
	for ; visited < len(tasks) && budget > 0; visited++ {
		st := tasks[(s.next+visited)%len(tasks)]
		reads, err := s.shipTask(ctx, st, budget)
		budget -= reads
		if err != nil && ctx.Err() == nil {
			s.log.Warn("shipping task log", "task_id", st.task.ID, "job_id", st.task.JobID, "attempt", st.task.Attempt, "err", err)
		}
	}
	if len(tasks) > 0 {
		s.next = (s.next + visited) % len(tasks)
	}
}

// readBatch is how many lines one task log read asks for; a task that has
// more is read again at once while the tick's budget of readsPerTick
// reads lasts.
const (
	readBatch    = 1000
	readsPerTick = 10
)

// shipTask ships what the task's log holds beyond what was shipped, in at
// most budget reads, and returns how many reads it made.
func (s *shipper) shipTask(ctx context.Context, st shipState, budget int) (int, error) {
	shipped, reads := false, 0
	for range budget {
		reads++
		lines, err := s.logs.Read(ctx, st.task.ID, st.shipped, readBatch)
		if err != nil && !errors.Is(err, tasklog.ErrNotFound) {
			return reads, err
		}
		if len(lines) == 0 {
			break
		}
		if err := s.ship.Ship(ctx, logshipper.Batch{
			JobID: st.task.JobID, Attempt: st.task.Attempt, TaskID: st.task.ID,
			Stream: sqsstream.Address(st.task.JobID), Lines: lines,
		}); err != nil {
			return reads, err
		}
		// A read may end inside a line split into parts: the next one
		// starts again at that line (the follower drops the parts it has).
		tail := lines[len(lines)-1]
		st.shipped = tail.Seq
		if tail.More {
			st.shipped--
		}
		last := st.shipped
		s.reg.update(st.task.ID, func(x *shipState) { x.shipped, x.quiet = last, time.Time{} })
		shipped = true
		if tail.End != nil {
			// The log is closed: nothing more will come.
			s.reg.forget(st.task.ID)
			return reads, nil
		}
		if len(lines) < readBatch {
			break
		}
	}
	if shipped || st.task.Status != runner.StatusStopped {
		return reads, nil
	}
	switch {
	case st.quiet.IsZero():
		s.reg.update(st.task.ID, func(x *shipState) { x.quiet = time.Now() })
	case time.Since(st.quiet) > linger:
		s.reg.forget(st.task.ID)
	}
	return reads, nil
}
