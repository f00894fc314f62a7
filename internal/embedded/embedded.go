package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/journal/sqlitejournal"
	"github.com/deployerhq/deployer/internal/lane"
	"github.com/deployerhq/deployer/internal/lane/sqlitelane"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/queue/sqlitequeue"
	"github.com/deployerhq/deployer/internal/runner/local"
	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/internal/stream/sqlitestream"
	"github.com/deployerhq/deployer/internal/tasklog/sqlitelog"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/worker"
)

// Options configure the embedded backend.
type Options struct {
	// Supervisor re-executes a binary as a task supervisor (see
	// local.Options).
	Supervisor []string
	// SpareAtStart has a serving process start its spare supervisor at
	// once rather than after its first task (see local.Options): for
	// deployer's own binary, known to run Supervisor.
	SpareAtStart bool
	// SupervisorAbout says what Supervisor is and why, for deployer up
	// to report (Backend.SupervisorAbout).
	SupervisorAbout string
	// Sender is the verified identity the queues record for this process
	// ("user:<name>").
	Sender string
	Logger *slog.Logger
	// ReadOnly opens the existing state directory for reading only (see
	// sqlitedb.OpenReadOnly), for a user who cannot write it: jobs,
	// batches and dead letters can be read, nothing can be sent.
	ReadOnly bool
}

// Backend is the embedded backend opened on a state directory.
type Backend struct {
	Dir     string
	DB      *sql.DB
	Broker  *sqlitequeue.Broker
	Streams *sqlitestream.Streams
	Journal *sqlitejournal.Journal
	Lanes   *sqlitelane.Limiter
	Logs    *sqlitelog.Log
	Runner  *local.Runner
	// ReadOnly is Options.ReadOnly: nothing may be written (no server
	// may be started for it either).
	ReadOnly bool
	// SupervisorAbout is Options.SupervisorAbout.
	SupervisorAbout string

	requests, requestDLQ, runDLQ queue.Queue
	logger                       *slog.Logger
}

// Open opens (creating as needed) the embedded backend in dir.
func Open(ctx context.Context, dir string, opts Options) (*Backend, error) {
	open := sqlitedb.Open
	if opts.ReadOnly {
		open = sqlitedb.OpenReadOnly
	}
	db, err := open(dir) //nolint:contextcheck // opening pings with its own bounded context
	if err != nil {
		return nil, err
	}
	b := &Backend{Dir: dir, DB: db, logger: opts.Logger, ReadOnly: opts.ReadOnly, SupervisorAbout: opts.SupervisorAbout}
	if b.logger == nil {
		b.logger = slog.New(slog.DiscardHandler)
	}
	if err := b.open(ctx, opts); err != nil {
		_ = db.Close()
		return nil, err
	}
	return b, nil
}

func (b *Backend) open(ctx context.Context, opts Options) error {
	var err error
	if b.Broker, err = sqlitequeue.New(b.DB, sqlitequeue.Options{SenderID: opts.Sender}); err != nil { //nolint:contextcheck // constructors migrate with their own bounded context
		return err
	}
	if b.Streams, err = sqlitestream.New(b.DB, sqlitestream.Options{Logger: b.logger}); err != nil { //nolint:contextcheck // constructors migrate with their own bounded context
		return err
	}
	if b.Journal, err = sqlitejournal.New(b.DB, sqlitejournal.Options{}); err != nil { //nolint:contextcheck // constructors migrate with their own bounded context
		return err
	}
	if b.Lanes, err = sqlitelane.New(b.DB, sqlitelane.Options{}); err != nil { //nolint:contextcheck // constructors migrate with their own bounded context
		return err
	}
	if b.Logs, err = sqlitelog.New(b.DB, sqlitelog.Options{}); err != nil { //nolint:contextcheck // constructors migrate with their own bounded context
		return err
	}
	if b.Runner, err = local.New(b.DB, local.Options{ //nolint:contextcheck // constructors migrate with their own bounded context
		StateDir:     b.Dir,
		Supervisor:   opts.Supervisor,
		SpareAtStart: opts.SpareAtStart,
		Logger:       b.logger,
	}); err != nil {
		return err
	}
	if opts.ReadOnly {
		// As a writer created them, without changing them.
		return b.queues(ctx, func(ctx context.Context, br queue.Broker, name string, _ queue.Config) (queue.Queue, error) {
			return br.Open(ctx, name)
		})
	}
	// Opened as they are, created when missing: a read for every command,
	// where creating applies the configuration again (a write). Serving
	// applies this version's (applyTopology).
	return b.queues(ctx, topology.Ensure)
}

// queues sets the backend's queues, each got from get, dead-letter
// queues before the queues that redrive to them.
func (b *Backend) queues(ctx context.Context, get func(context.Context, queue.Broker, string, queue.Config) (queue.Queue, error)) error {
	var err error
	if b.requestDLQ, err = get(ctx, b.Broker, topology.RequestDLQ, topology.DeadLetterConfig()); err != nil {
		return err
	}
	if b.requests, err = get(ctx, b.Broker, topology.RequestQueue, topology.RequestQueueConfig()); err != nil {
		return err
	}
	b.runDLQ, err = get(ctx, b.Broker, topology.RunDLQ, topology.DeadLetterConfig())
	return err
}

// applyTopology gives the pipeline's queues, and the run queues of the
// lanes pol names, this version's configuration.
func (b *Backend) applyTopology(ctx context.Context, pol gatekeeper.Policy) error {
	if err := b.queues(ctx, func(ctx context.Context, br queue.Broker, name string, cfg queue.Config) (queue.Queue, error) {
		return br.Create(ctx, name, cfg)
	}); err != nil {
		return fmt.Errorf("configuring the pipeline's queues: %w", err)
	}
	lp, ok := pol.(interface{ Config() schemas.Config })
	if !ok {
		return nil
	}
	for _, name := range backend.Lanes(lp.Config()) {
		if _, err := b.Broker.Create(ctx, topology.LaneQueue(name), topology.RunQueueConfig()); err != nil {
			return fmt.Errorf("creating run queue of lane %s: %w", name, err)
		}
	}
	return nil
}

// Close closes the database.
func (b *Backend) Close() error { return b.DB.Close() }

// Where names the state directory.
func (b *Backend) Where() string { return Dir(b.Dir).Where() }

var _ backend.Backend = (*Backend)(nil)

// Client returns a producer client on this backend.
func (b *Backend) Client() *producer.Client {
	return &producer.Client{Requests: b.requests, Streams: b.Streams, Logs: b.Logs, Journal: b.Journal, Lanes: b.Lanes, Together: b.Together}
}

// Together runs fn in one transaction of the state database: the writes
// fn makes through the backend's adapters are one commit (see
// sqlitedb.Together and package writes).
func (b *Backend) Together(ctx context.Context, fn func(ctx context.Context) error) error {
	return sqlitedb.Together(ctx, b.DB, fn)
}

// StreamAddress is the address of a job's stream.
func (b *Backend) StreamAddress(jobID string) string { return sqlitestream.Address(jobID) }

// RunQueue opens the run queue of a lane, creating it when needed.
func (b *Backend) RunQueue(ctx context.Context, lane string) (queue.Queue, error) {
	return topology.RunQueue(ctx, b.Broker, lane)
}

// DeadLetterQueues returns the request and run dead-letter queues.
func (b *Backend) DeadLetterQueues() (requests, runs queue.Queue) { return b.requestDLQ, b.runDLQ }

// Serve runs the gatekeeper, a worker and the logshipper on this backend
// until ctx ends, then drains (see worker.Options.DrainTimeout).
func (b *Backend) Serve(ctx context.Context, pol gatekeeper.Policy, opts backend.ServeOptions) error {
	return b.serve(ctx, pol, opts, nil)
}

// serve is Serve, with a loop built on the pipeline's worker served
// beside the others when watch is set.
func (b *Backend) serve(ctx context.Context, pol gatekeeper.Policy, opts backend.ServeOptions, watch func(*worker.Worker) backend.Loop) error {
	log := opts.Logger
	if log == nil {
		log = b.logger
	}
	// Lane queues exist before the worker looks for them, so a fresh state
	// directory runs its first job without waiting for discovery; the
	// queues that exist take this version's configuration.
	if err := b.applyTopology(ctx, pol); err != nil {
		if ctx.Err() != nil {
			// Stopped while starting: nothing failed.
			return nil
		}
		return err
	}
	g := &gatekeeper.Gatekeeper{
		Policy:        pol,
		RunQueue:      b.RunQueue,
		DeadLetters:   b.requestDLQ,
		Streams:       b.Streams,
		StreamAddress: sqlitestream.Address,
		Journal:       b.Journal,
		Together:      b.Together,
		Identify: func(_ context.Context, sender string) (schemas.Identity, error) {
			if sender == "" {
				return schemas.Identity{}, errors.New("the queue recorded no sender")
			}
			return schemas.Identity{Principal: sender, Source: "os_user"}, nil
		},
		Logger:   log,
		Observer: opts.Decisions,
		Tracer:   opts.Tracer,
	}
	wo := opts.Worker
	changes := sqlitedb.ChangesOf(ctx, b.DB)
	if wo.Poll == 0 {
		// Commits wake the inspections (Wake below): the poll finds
		// what commits nothing, a supervisor gone and a timeout due.
		wo.Poll = 500 * time.Millisecond
	}
	if wo.Discover == 0 {
		wo.Discover = 2 * time.Second
	}
	if wo.Wake == nil {
		// A supervisor recording its task's end commits to the state
		// database: the worker inspects at once.
		wo.Wake = changes.Notify
	}
	if wo.Logger == nil {
		wo.Logger = log
	}
	w, err := worker.New(worker.Ports{
		Broker: b.Broker, DeadLetters: b.runDLQ, Runner: b.Runner,
		Streams: b.Streams, Journal: b.Journal, Lanes: b.Lanes,
		Together: b.Together,
	}, wo)
	if err != nil {
		return err
	}

	loops := []backend.Loop{
		{Name: "logshipper", Run: func(ctx context.Context) error { return b.shipLogs(ctx, log) }},
		{Name: "janitor", Run: func(ctx context.Context) error { b.janitor(ctx, log); return nil }},
		// A task's supervisor is started ahead, so that a job does not
		// wait for a process to start.
		{Name: "spare supervisor", Run: func(ctx context.Context) error { b.Runner.KeepSpare(ctx); return nil }},
	}
	if watch != nil {
		loops = append(loops, watch(w))
	}
	return backend.Serve(ctx, g, b.requests, w, opts, loops...)
}

// Janitor settings: expired job streams go, and the work directories of
// tasks that ended long ago (their output stays in the task log).
const (
	janitorEvery  = 10 * time.Minute
	workDirMaxAge = 7 * 24 * time.Hour
)

// janitor removes expired job streams and old work directories, first
// backend.JanitorFirst after start and then every janitorEvery, until ctx
// ends.
func (b *Backend) janitor(ctx context.Context, log *slog.Logger) {
	backend.Janitor(ctx, log, backend.JanitorFirst, janitorEvery,
		backend.Chore{What: "expired job streams", Run: func(ctx context.Context) (int, error) {
			return b.Streams.DeleteExpired(ctx, time.Now())
		}},
		backend.Chore{What: "old work directories", Run: func(ctx context.Context) (int, error) {
			return b.Runner.Prune(ctx, workDirMaxAge)
		}},
	)
}

// MetricSources returns where the metrics of a pipeline served on b read
// its queues and lanes.
func (b *Backend) MetricSources() (queue.Broker, lane.Limiter) { return b.Broker, b.Lanes }
