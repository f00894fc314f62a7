// Package up implements "deployer up": serve the embedded pipeline
// (gatekeeper, worker, logshipper) on a state directory in the foreground.
package up

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"go.opentelemetry.io/otel"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/cli/detached"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/uicmd"
	"github.com/deployerhq/deployer/internal/companion"
	"github.com/deployerhq/deployer/internal/embedded"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/reload"
	"github.com/deployerhq/deployer/internal/schedule"
	"github.com/deployerhq/deployer/internal/task/secretref"
	"github.com/deployerhq/deployer/internal/tracing"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/worker"
)

// Options are the parsed command line of "deployer up".
type Options struct {
	Factory      *factory.Factory
	DrainTimeout time.Duration
	Capacity     int
	Visibility   time.Duration
	// Poll is how often the worker inspects the tasks it tracks (on AWS,
	// one DescribeTasks per 100 tasks): the most a task's end, or a
	// cancelled task's stop, waits to be seen there. The embedded runner
	// reports ends as they happen.
	Poll    time.Duration
	Verbose bool
	// Provision creates the AWS backend's missing queues, log groups and
	// lease table first (emulators, small installations).
	Provision bool
	// IdleExit, when positive, makes up a detached server of the embedded
	// backend: it stops by itself once idle that long (hidden flag; see
	// package detached).
	IdleExit time.Duration
	// ReadyFD, when positive, is a descriptor up writes to once it serves
	// (hidden flag; see detached.Ready).
	ReadyFD int
	// WatchConfig reloads the configuration when its file changes
	// (SIGHUP always reloads it). Defaults to true.
	WatchConfig bool
	// UIAddr, when set, serves the web dashboard there too (see
	// "deployer ui"); UIAllowActions lets it replay, cancel and pause.
	UIAddr         string
	UIAllowActions bool
	// MetricsAddr, when set, is where Prometheus metrics are served
	// (host:port, at /metrics; port 0 picks a free one, which up prints).
	// Off by default.
	MetricsAddr string
	// LogFormat is how the pipeline logs: json (the default) or text.
	LogFormat string
}

// NewCmdUp builds the command; runF replaces the action in tests.
func NewCmdUp(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Serve the pipeline (gatekeeper, worker, logshipper) in the foreground",
		Long: `Up serves the embedded pipeline on the state directory until it is stopped,
so that any number of "deployer run" processes share it. Several "up"s may
serve one state directory at once: every task starts exactly once.

On SIGINT or SIGTERM it stops taking jobs and keeps tracking running ones
for up to --drain-timeout, then hands the rest back for another pipeline to
adopt; a second signal hands them back at once. Tasks keep running either way.

On SIGHUP, and when the configuration file changes (unless
--watch-config=false), it reloads the configuration: a valid file decides
the very next request; a file that does not load is refused with every
problem logged, and the policy in force stays. Each reload logs the new
policy's digest ("configuration reloaded: sha256:…"); "deployer describe"
shows the digest in force.

With --backend aws it serves an AWS deployment without Lambdas: the
gatekeeper long-polls the request queue, the worker runs ECS tasks, and task
logs are read from CloudWatch Logs for the tasks this process tracks.

The pipeline logs JSON lines on stderr (--log-format text for people),
those about a job with its job_id, attempt and trace_id. --metrics-addr
serves Prometheus metrics at /metrics; spans are exported over OTLP/HTTP
when OTEL_EXPORTER_OTLP_ENDPOINT is set (see docs/observability.md).

With --ui-addr it also serves the web dashboard ("deployer ui"), read-only
unless --ui-allow-actions is given.`,
		Example: `  deployer up
  deployer up --ui-addr 127.0.0.1:8080
  deployer --config deployer.yaml --state-dir /var/lib/deployer up --verbose
  deployer --backend aws --region eu-west-1 up --provision
  deployer up --metrics-addr 127.0.0.1:9464`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.IdleExit < 0 || opts.ReadyFD < 0 {
				return factory.Usage(fmt.Errorf("--idle-exit and --ready-fd must not be negative"))
			}
			if opts.UIAllowActions && opts.UIAddr == "" {
				return factory.Usage(fmt.Errorf("--ui-allow-actions goes with --ui-addr"))
			}
			if opts.UIAddr != "" {
				if _, _, err := net.SplitHostPort(opts.UIAddr); err != nil {
					return factory.Usage(fmt.Errorf("--ui-addr %q: want HOST:PORT, such as %s", opts.UIAddr, uicmd.DefaultAddr))
				}
				if opts.IdleExit > 0 {
					return factory.Usage(fmt.Errorf("--ui-addr does not go with --idle-exit: a detached server serves no dashboard"))
				}
			}
			if opts.DrainTimeout < 0 || opts.Capacity < 1 || opts.Visibility < 3*time.Second || opts.Poll <= 0 {
				return factory.Usage(fmt.Errorf("--drain-timeout must not be negative, --capacity at least 1, --visibility at least 3s and --poll positive"))
			}
			if opts.LogFormat != "json" && opts.LogFormat != "text" {
				return factory.Usage(fmt.Errorf("--log-format %q: want json or text", opts.LogFormat))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runUp(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.DrainTimeout, "drain-timeout", 5*time.Minute, "how long to keep tracking running jobs after a stop signal")
	cmd.Flags().IntVar(&opts.Capacity, "capacity", worker.DefaultCapacity, "most jobs this process tracks at once")
	cmd.Flags().DurationVar(&opts.Visibility, "visibility", worker.DefaultVisibility, "how long a job taken by a pipeline that dies stays hidden before another adopts it")
	cmd.Flags().DurationVar(&opts.Poll, "poll", worker.DefaultPoll, "how often tracked tasks are inspected (with --backend aws: one DescribeTasks per 100 tasks)")
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "log every job event")
	cmd.Flags().BoolVar(&opts.WatchConfig, "watch-config", true, "reload the configuration when its file changes (SIGHUP always reloads it)")
	cmd.Flags().BoolVar(&opts.Provision, "provision", false, "with --backend aws: create missing queues, log groups and the lease table first")
	cmd.Flags().StringVar(&opts.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics at /metrics on this host:port (e.g. 127.0.0.1:9464; off when empty)")
	cmd.Flags().StringVar(&opts.LogFormat, "log-format", "json", "log format: json or text")
	cmd.Flags().DurationVar(&opts.IdleExit, "idle-exit", 0, "stop once idle this long (detached servers)")
	cmd.Flags().IntVar(&opts.ReadyFD, "ready-fd", 0, "descriptor to write to once serving (detached servers)")
	cmd.Flags().StringVar(&opts.UIAddr, "ui-addr", "", "also serve the web dashboard on HOST:PORT, e.g. 127.0.0.1:8080 (see deployer ui)")
	cmd.Flags().BoolVar(&opts.UIAllowActions, "ui-allow-actions", false, "let the dashboard replay dead letters, cancel jobs and pause schedules (default read-only)")
	_ = cmd.Flags().MarkHidden("idle-exit")
	_ = cmd.Flags().MarkHidden("ready-fd")
	return cmd
}

// Metrics serves the Prometheus metrics of "deployer up --metrics-addr".
// deployer leaves Prometheus out, to start faster, and hands such a
// command line to deployer-aws, which links it (factory.Extra; package
// extras implements it).
type Metrics interface {
	// ListenMetrics listens on addr (host:port; port 0 picks a free one)
	// for the metrics of the pipeline served on b under the policy in
	// force live, whose failures to read a gauge go to log. An address
	// that is malformed or cannot be listened on is an error.
	ListenMetrics(ctx context.Context, addr string, b backend.Backend, live *policy.Live, log *slog.Logger) (MetricsServer, error)
}

// MetricsServer is the metrics of a pipeline, told of its jobs' ends and
// its gatekeeper's decisions, and listening.
type MetricsServer interface {
	worker.Observer
	gatekeeper.Observer
	// Addr is where they are served, at /metrics.
	Addr() net.Addr
	// Serve serves them until ctx ends.
	Serve(ctx context.Context) error
}

// needMetrics names what --metrics-addr needs, when deployer hands the
// command line to deployer-aws for it.
const needMetrics = "--metrics-addr (Prometheus metrics)"

func runUp(ctx context.Context, opts *Options) error {
	f := opts.Factory
	// Asked first: deployer hands the command line to deployer-aws for
	// metrics or the dashboard before it has done anything.
	var metricsPart Metrics
	if opts.MetricsAddr != "" {
		var err error
		if metricsPart, err = factory.Extra[Metrics](f, needMetrics); err != nil {
			return err
		}
	}
	var dash uicmd.Dashboard
	if opts.UIAddr != "" {
		var err error
		if dash, err = factory.Extra[uicmd.Dashboard](f, uicmd.NeedDashboard); err != nil {
			return err
		}
	}
	// SIGHUP reloads the configuration; caught from the start, so that it
	// never kills the server.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	path, err := f.ResolveConfigPath()
	if err != nil {
		return err
	}
	if path, err = filepath.Abs(path); err != nil {
		return factory.Config(fmt.Errorf("configuration %s: %w", path, err))
	}
	pol, err := f.LoadPolicy(path)
	if err != nil {
		return factory.Config(fmt.Errorf("configuration %s:\n%w", path, err))
	}
	live := policy.NewLive(pol)
	var b backend.Backend
	if opts.Provision {
		name, err := f.ResolveBackend()
		if err != nil {
			return err
		}
		if name != factory.BackendAWS {
			return factory.Usage(fmt.Errorf("--provision applies to --backend aws only"))
		}
		a, err := factory.AWSPart[factory.AWS](f)
		if err != nil {
			return err
		}
		if b, err = a.Backend(ctx, f, true); err != nil {
			return err
		}
	} else if b, err = f.Backend(ctx); err != nil {
		return err
	}
	defer func() { _ = b.Close() }()
	eb, embeddedBackend := b.(*embedded.Backend)
	if opts.IdleExit > 0 && !embeddedBackend {
		return factory.Usage(fmt.Errorf("--idle-exit applies to the embedded backend only"))
	}
	// The embedded backend records that a pipeline serves its state
	// directory, so that commands do not start a server of their own.
	// (ServeUntilIdle marks it itself.)
	if embeddedBackend && opts.IdleExit == 0 {
		release, err := eb.ServeLock()
		if err != nil {
			return err
		}
		defer release()
	}

	// The policy in force is published beside the serve mark, so that a
	// command given another configuration fails instead of being ignored
	// (see factory.CheckServedConfig).
	publish := func(p *policy.Policy) {}
	if embeddedBackend {
		publish = func(p *policy.Policy) {
			sc := embedded.ServedConfig{Config: path, PolicyDigest: p.Digest(), Source: p.Source(), Since: time.Now().UTC(),
				Supervisors: eb.SupervisorAbout}
			if err := eb.PublishServed(sc); err != nil {
				_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: %v\n", err)
			}
		}
		publish(pol)
		defer eb.UnpublishServed()
	}
	rl := &reload.Reloader{
		Path: path, Load: f.LoadPolicy, Live: live, Out: f.IO.ErrOut, Applied: publish,
		Prepare: func(ctx context.Context, p *policy.Policy) error { return createLanes(ctx, b, p) },
	}
	watch := opts.WatchConfig
	if watch {
		if err := rl.Watch(); err != nil {
			_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: %v; SIGHUP still reloads it\n", err)
			watch = false
		}
	}

	level := slog.LevelInfo
	if !opts.Verbose {
		level = slog.LevelWarn
	}
	logger := tracing.JSONLogger(f.IO.ErrOut, level)
	if opts.LogFormat == "text" {
		logger = slog.New(tracing.LogHandler(slog.NewTextHandler(f.IO.ErrOut, &slog.HandlerOptions{Level: level})))
	}
	// Spans go to the process's tracer provider (see tracing.Start).
	tracer := otel.Tracer(tracing.Instrumentation)
	var m MetricsServer
	if metricsPart != nil {
		if m, err = metricsPart.ListenMetrics(ctx, opts.MetricsAddr, b, live, logger); err != nil {
			return factory.Usage(err)
		}
		// Metrics are served until up returns, drain included.
		mctx, stopMetrics := context.WithCancel(context.WithoutCancel(ctx))
		served := make(chan struct{})
		go func() {
			defer close(served)
			if err := m.Serve(mctx); err != nil {
				logger.Error("serving metrics", "err", err)
			}
		}()
		defer func() { stopMetrics(); <-served }()
		_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: metrics on http://%s/metrics\n", m.Addr())
	}

	// The first signal drains; the second hands running jobs back at once.
	// The first ends ctx (the command's context is a signal.NotifyContext,
	// see cli.MainAs), and only then does up listen for a second: had it
	// listened from the start, the first signal would reach both and,
	// as often as not, count as the second too.
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	abort, returned := make(chan struct{}), make(chan struct{})
	defer close(returned)
	go func() {
		select {
		case <-ctx.Done():
		case <-returned:
			return
		}
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
		_, _ = fmt.Fprintln(f.IO.ErrOut, "deployer: stopping: no new jobs; draining running ones (signal again to hand them back now)")
		stop()
		select {
		case <-sigs:
			close(abort)
		case <-returned:
		}
	}()

	so := backend.ServeOptions{
		Worker: worker.Options{Capacity: opts.Capacity, DrainTimeout: opts.DrainTimeout, Visibility: opts.Visibility, Poll: opts.Poll,
			Logger: logger, Tracer: tracer},
		Visibility: opts.Visibility,
		Logger:     logger,
		Tracer:     tracer,
		Abort:      abort,
		Ready: func() {
			_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: serving %s (stop with Ctrl-C)\n", b.Where())
			_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: policy in force: %s, from %s (reloaded on SIGHUP to pid %d%s)\n", pol.Digest(), path, os.Getpid(), watching(watch))
			if embeddedBackend && eb.SupervisorAbout != "" {
				_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: task supervisors: %s\n", eb.SupervisorAbout)
			}
			if embeddedBackend {
				warnAWSSecrets(f, pol)
			}
			if opts.ReadyFD > 0 {
				if err := detached.Ready(opts.ReadyFD); err != nil {
					_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: telling the starter this server is ready: %v\n", err)
				}
			}
		},
	}
	// Schedules fire from "deployer up" on the embedded backend (on AWS,
	// EventBridge Scheduler sends them; detached servers stop when idle
	// and so fire none). A reload replaces them.
	if embeddedBackend && opts.IdleExit == 0 {
		loop, sched, err := eb.SchedulerLoop(sctx, pol.Config().Schedules, schedule.Options{Logger: logger})
		if err != nil {
			return err
		}
		so.Loops = append(so.Loops, loop)
		applied := rl.Applied
		rl.Applied = func(p *policy.Policy) {
			warnAWSSecrets(f, p)
			if err := sched.SetSchedules(p.Config().Schedules); err != nil {
				_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: schedules of the reloaded configuration: %v\n", err)
			}
			applied(p)
		}
	}
	if m != nil {
		so.Worker.Observer, so.Decisions = m, m
	}
	// The dashboard outlives the first signal: it shows the drain.
	if dash != nil {
		// The dashboard reads and acts through a client of the backend
		// this process serves, as "deployer ui" does: one code path.
		c, err := f.Client(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = c.Close() }()
		serveUI, err := dash.ListenDashboard(ctx, f, c, func() (uicmd.Policy, error) { return live, nil },
			uicmd.Config{Addr: opts.UIAddr, AllowActions: opts.UIAllowActions, Served: true})
		if err != nil {
			return err
		}
		uctx, stopUI := context.WithCancel(context.WithoutCancel(ctx))
		uiDone := make(chan struct{})
		go func() {
			defer close(uiDone)
			if err := serveUI(uctx); err != nil {
				_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: %v\n", err)
			}
		}()
		defer func() { stopUI(); <-uiDone }()
	}
	rctx, stopReload := context.WithCancel(sctx)
	reloaded := make(chan struct{})
	go func() {
		defer close(reloaded)
		rl.Run(rctx, hup)
	}()
	defer func() { stopReload(); <-reloaded }()
	if opts.IdleExit > 0 {
		_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: %s: detached server (pid %d), stopping once idle for %s\n",
			time.Now().Format(time.RFC3339), os.Getpid(), opts.IdleExit)
		err = eb.ServeUntilIdle(sctx, live, so, opts.IdleExit)
	} else {
		err = b.Serve(sctx, live, so)
	}
	_, _ = fmt.Fprintln(f.IO.ErrOut, "deployer: stopped")
	if sctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Stopped (a signal, or idle) while a part was still starting:
		// stopping is not a failure.
		return nil
	}
	return err
}

func watching(watch bool) string {
	if watch {
		return " and when the file changes"
	}
	return ""
}

// createLanes creates the run queues of p's lanes that are missing, as a
// backend's Serve does at start, so that workers find a reload's new lanes
// before its first job.
func createLanes(ctx context.Context, b backend.Backend, p *policy.Policy) error {
	rq, ok := b.(interface {
		RunQueue(ctx context.Context, lane string) (queue.Queue, error)
	})
	if !ok {
		return nil
	}
	for _, name := range backend.Lanes(p.Config()) {
		if _, err := rq.RunQueue(ctx, name); err != nil {
			return fmt.Errorf("creating run queue of lane %s: %w", name, err)
		}
	}
	return nil
}

// warnAWSSecrets warns, on the embedded backend, when p's containers name
// Secrets Manager or SSM secrets and no deployer-aws of this build lies
// beside this binary to read them for the task supervisors (package
// secretproc): their tasks would not start. Said when the server starts
// and when it reloads, not found at a job's start only.
func warnAWSSecrets(f *factory.Factory, p *policy.Policy) {
	exe, err := f.Executable()
	if err != nil {
		return
	}
	if w := awsSecretsWarning(exe, p.Config()); w != "" {
		_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: warning: %s\n", w)
	}
}

// awsSecretsWarning is warnAWSSecrets' message for the deployer binary
// exe and the configuration cfg; "" when there is nothing to warn of.
func awsSecretsWarning(exe string, cfg schemas.Config) string {
	var containers []string
	for name, c := range cfg.Containers {
		for _, ref := range c.Secrets {
			if secretref.ReadsAWS(ref) {
				containers = append(containers, name)
				break
			}
		}
	}
	if len(containers) == 0 {
		return ""
	}
	_, err := companion.Find(exe, companion.AWS, companion.AWSPackage)
	if err == nil {
		return ""
	}
	slices.Sort(containers)
	return fmt.Sprintf("the secrets of %s name Secrets Manager or SSM, which %s reads for the task supervisors, and it cannot be used (%v): their tasks will not start. Install %s of the same build next to %s (make build puts them all in bin/)",
		strings.Join(containers, ", "), companion.AWS, err, companion.AWS, exe)
}
