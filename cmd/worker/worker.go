package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/internal/metrics"
	"github.com/deployerhq/deployer/internal/tracing"
	"github.com/deployerhq/deployer/internal/tracing/otlp"
	"github.com/deployerhq/deployer/worker"
)

// Exit codes of the daemon besides 0 (a clean stop, or -h) and 1 (the
// worker stopped on an error).
const (
	exitUsage  = 64 // bad flags or arguments
	exitConfig = 78 // bad environment, or no deployment to serve
)

// options are everything the daemon is told: where the deployment is
// (the environment, overridden by flags) and how the worker runs.
type options struct {
	Backend awsbackend.Options
	Worker  worker.Options
	Level   slog.Level
	// MetricsAddr, when set, is where Prometheus metrics are served
	// (host:port, at /metrics). Off by default.
	MetricsAddr string
}

// run is the worker daemon: it runs the jobs of every lane run queue of
// an AWS deployment as ECS tasks, and the janitor that deletes expired
// job streams, until SIGTERM or SIGINT; then it stops taking jobs, keeps
// tracking running ones for --drain-timeout and hands the rest back for
// another worker to adopt (a second signal hands them back at once). It
// logs JSON to stderr (a job's lines with its job_id, attempt and
// trace_id), serves Prometheus metrics with --metrics-addr, exports spans
// over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, and returns the exit code: 0 after a clean stop,
// 64 for bad flags, 78 for bad configuration, 1 otherwise. --version
// prints "worker VERSION" on stdout and returns 0; alone, it reads no
// environment, so it answers in any container.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-version") {
		_, _ = fmt.Fprintln(stdout, "worker", version)
		return 0
	}
	o, code, ok := parse(args, getenv, stdout, stderr)
	if !ok {
		return code
	}
	return serve(o, getenv, stderr)
}

// parse reads the options from the environment and the flags. When there
// is nothing to serve (-h, --version printed on stdout, or a problem it
// has reported on stderr) it returns ok false and the exit code.
func parse(args []string, getenv func(string) string, stdout, stderr io.Writer) (o options, code int, ok bool) {
	var err error
	if o.Backend, err = awsbackend.FromEnv(getenv); err != nil {
		_, _ = fmt.Fprintf(stderr, "worker: %v\n", err)
		return o, exitConfig, false
	}
	b, wo := &o.Backend, &o.Worker
	var subnets, groups, level string
	var showVersion bool
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&b.Region, "region", b.Region, "AWS region ($DEPLOYER_AWS_REGION, else the SDK's)")
	fs.StringVar(&b.Prefix, "prefix", b.Prefix, "resource name prefix ($DEPLOYER_PREFIX, default deployer-)")
	fs.StringVar(&b.Cluster, "cluster", b.Cluster, "ECS cluster ($DEPLOYER_ECS_CLUSTER, default <prefix>tasks)")
	fs.StringVar(&b.ContainerName, "container-name", b.ContainerName, "container whose command is overridden ($DEPLOYER_ECS_CONTAINER, default deployer)")
	fs.StringVar(&b.LaunchType, "launch-type", b.LaunchType, "default launch type ($DEPLOYER_ECS_LAUNCH_TYPE, default FARGATE)")
	fs.StringVar(&subnets, "subnets", strings.Join(b.Subnets, ","), "comma-separated subnets of awsvpc tasks ($DEPLOYER_ECS_SUBNETS)")
	fs.StringVar(&groups, "security-groups", strings.Join(b.SecurityGroups, ","), "comma-separated security groups ($DEPLOYER_ECS_SECURITY_GROUPS)")
	fs.BoolVar(&b.AssignPublicIP, "public-ip", b.AssignPublicIP, "give awsvpc tasks a public IP ($DEPLOYER_ECS_PUBLIC_IP)")
	fs.IntVar(&wo.Capacity, "capacity", worker.DefaultCapacity, "most jobs tracked at once")
	fs.DurationVar(&wo.Visibility, "visibility", worker.DefaultVisibility, "how long a job taken by a worker that dies stays hidden before another adopts it")
	fs.DurationVar(&wo.Poll, "poll", 5*time.Second, "how often tracked tasks are described (one DescribeTasks per 100 tasks)")
	fs.DurationVar(&wo.DrainTimeout, "drain-timeout", 5*time.Minute, "how long to keep tracking running jobs after a stop signal")
	fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics at /metrics on this host:port (e.g. 127.0.0.1:9464; off when empty)")
	fs.BoolVar(&showVersion, "version", false, "print the version stamped at build time and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, 0, false
		}
		return o, exitUsage, false
	}
	if showVersion {
		_, _ = fmt.Fprintln(stdout, "worker", version)
		return o, 0, false
	}
	if fs.NArg() > 0 {
		_, _ = fmt.Fprintf(stderr, "worker: unexpected arguments %q\n", fs.Args())
		return o, exitUsage, false
	}
	if err := o.Level.UnmarshalText([]byte(level)); err != nil {
		_, _ = fmt.Fprintf(stderr, "worker: --log-level %q: want debug, info, warn or error\n", level)
		return o, exitUsage, false
	}
	if wo.Capacity < 1 || wo.Visibility < 3*time.Second || wo.DrainTimeout < 0 || wo.Poll <= 0 {
		_, _ = fmt.Fprintln(stderr, "worker: --capacity must be at least 1, --visibility at least 3s, --poll positive and --drain-timeout not negative")
		return o, exitUsage, false
	}
	b.Subnets, b.SecurityGroups = awsbackend.SplitList(subnets), awsbackend.SplitList(groups)
	return o, 0, true
}

// serve opens the deployment and runs the worker and the janitor until a
// stop signal (see run).
func serve(o options, getenv func(string) string, stderr io.Writer) int {
	log := tracing.JSONLogger(stderr, o.Level)
	o.Backend.Logger, o.Worker.Logger = log, log

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	tp, err := tracing.Setup(ctx, "deployer-worker", getenv, otlp.Exporter)
	if err != nil {
		log.Error("tracing: running without it", "err", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(sctx); err != nil {
			log.Warn("tracing: exporting the last spans", "err", err)
		}
	}()
	o.Worker.Tracer = tp.Tracer()
	var ln net.Listener
	if o.MetricsAddr != "" {
		if ln, err = metrics.Listen(ctx, o.MetricsAddr); err != nil {
			log.Error("serving metrics", "err", err)
			return exitUsage
		}
		defer func() { _ = ln.Close() }()
	}

	b, err := awsbackend.Open(ctx, o.Backend)
	if err == nil {
		err = b.RequireDeadLetters()
	}
	if err != nil {
		log.Error("opening the AWS backend", "err", err)
		return exitConfig
	}
	// The lanes' limits are what the run orders received name.
	var w *worker.Worker
	m := metrics.New(metrics.Sources{Broker: b.Broker, Lanes: b.Lanes, LaneLimits: func() map[string]int { return w.LaneLimits() }, Logger: log})
	if ln != nil {
		o.Worker.Observer = m
	}
	w, err = b.Worker(o.Worker, nil)
	if err != nil {
		log.Error("building the worker", "err", err)
		return exitUsage
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		<-sigs
		log.Info("stopping: no new jobs; draining running ones (signal again to hand them back now)")
		stop()
		<-sigs
		w.Abort()
	}()

	log.Info("worker serving", "where", b.Where(), "cluster", b.Options.Cluster, "capacity", o.Worker.Capacity)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); b.Janitor(ctx, log) }()
	// Metrics are served until the worker has drained.
	mctx, stopMetrics := context.WithCancel(context.Background())
	if ln != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Serve(mctx, ln); err != nil {
				log.Error("serving metrics", "err", err)
			}
		}()
		log.Info("serving metrics", "url", fmt.Sprintf("http://%s/metrics", ln.Addr()))
	}
	err = w.Run(ctx)
	stopMetrics()
	wg.Wait()
	if err != nil {
		log.Error("worker stopped", "err", err)
		return 1
	}
	log.Info("worker stopped")
	return 0
}
