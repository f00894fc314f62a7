package awsbackend

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/deployerhq/deployer/worker"
)

// WorkerMain is the worker daemon (cmd/worker): it runs the jobs of every
// lane run queue of an AWS deployment as ECS tasks, and the janitor that
// deletes expired job streams, until SIGTERM or SIGINT; then it stops
// taking jobs, keeps tracking running ones for --drain-timeout and hands
// the rest back for another worker to adopt (a second signal hands them
// back at once). It logs JSON to stderr and returns the exit code: 0 after
// a clean stop, 64 for bad flags, 78 for bad configuration, 1 otherwise.
func WorkerMain(args []string, getenv func(string) string, stderr io.Writer) int {
	o, err := FromEnv(getenv)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "worker: %v\n", err)
		return 78
	}
	var wo worker.Options
	var subnets, groups, level string
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Region, "region", o.Region, "AWS region ($DEPLOYER_AWS_REGION, else the SDK's)")
	fs.StringVar(&o.Prefix, "prefix", o.Prefix, "resource name prefix ($DEPLOYER_PREFIX, default deployer-)")
	fs.StringVar(&o.Cluster, "cluster", o.Cluster, "ECS cluster ($DEPLOYER_ECS_CLUSTER, default <prefix>tasks)")
	fs.StringVar(&o.ContainerName, "container-name", o.ContainerName, "container whose command is overridden ($DEPLOYER_ECS_CONTAINER, default deployer)")
	fs.StringVar(&o.LaunchType, "launch-type", o.LaunchType, "default launch type ($DEPLOYER_ECS_LAUNCH_TYPE, default FARGATE)")
	fs.StringVar(&subnets, "subnets", strings.Join(o.Subnets, ","), "comma-separated subnets of awsvpc tasks ($DEPLOYER_ECS_SUBNETS)")
	fs.StringVar(&groups, "security-groups", strings.Join(o.SecurityGroups, ","), "comma-separated security groups ($DEPLOYER_ECS_SECURITY_GROUPS)")
	fs.BoolVar(&o.AssignPublicIP, "public-ip", o.AssignPublicIP, "give awsvpc tasks a public IP ($DEPLOYER_ECS_PUBLIC_IP)")
	fs.IntVar(&wo.Capacity, "capacity", worker.DefaultCapacity, "most jobs tracked at once")
	fs.DurationVar(&wo.Visibility, "visibility", worker.DefaultVisibility, "how long a job taken by a worker that dies stays hidden before another adopts it")
	fs.DurationVar(&wo.Poll, "poll", 5*time.Second, "how often tracked tasks are described (one DescribeTasks per 100 tasks)")
	fs.DurationVar(&wo.DrainTimeout, "drain-timeout", 5*time.Minute, "how long to keep tracking running jobs after a stop signal")
	fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 64
	}
	if fs.NArg() > 0 {
		_, _ = fmt.Fprintf(stderr, "worker: unexpected arguments %q\n", fs.Args())
		return 64
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		_, _ = fmt.Fprintf(stderr, "worker: --log-level %q: want debug, info, warn or error\n", level)
		return 64
	}
	if wo.Capacity < 1 || wo.Visibility < 3*time.Second || wo.DrainTimeout < 0 || wo.Poll <= 0 {
		_, _ = fmt.Fprintln(stderr, "worker: --capacity must be at least 1, --visibility at least 3s, --poll positive and --drain-timeout not negative")
		return 64
	}
	o.Subnets, o.SecurityGroups = list(subnets), list(groups)
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lv}))
	o.Logger, wo.Logger = log, log

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	b, err := Open(ctx, o)
	if err == nil {
		err = b.requireDeadLetters()
	}
	if err != nil {
		log.Error("opening the AWS backend", "err", err)
		return 78
	}
	w, err := b.Worker(wo, nil)
	if err != nil {
		log.Error("building the worker", "err", err)
		return 64
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

	log.Info("worker serving", "where", b.Where(), "cluster", b.Options.Cluster, "capacity", wo.Capacity)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); janitor(ctx, b, log) }()
	err = w.Run(ctx)
	wg.Wait()
	if err != nil {
		log.Error("worker stopped", "err", err)
		return 1
	}
	log.Info("worker stopped")
	return 0
}
