// Command awsfakes serves the HTTP-level AWS fakes (SQS, CloudWatch Logs,
// ECS, DynamoDB) at one loopback endpoint, for end-to-end tests that run
// the real deployer binaries with --backend aws and AWS_ENDPOINT_URL
// pointing here.
//
// ECS tasks run as ECS runs them (see ecsfake): PROVISIONING, PENDING,
// then RUNNING while their container runs as a local process started
// then, whose stdout and stderr become the task's CloudWatch log events as
// the awslogs driver writes them, while it runs: one event per line, a
// line longer than 16 KiB split into events of 16 KiB, empty lines left
// out. StopTask sends the process SIGTERM, and SIGKILL to its process
// group after -task-stop-timeout (30s, as on ECS). -task-entrypoint BIN
// runs every task as an image whose entrypoint is BIN (deployer-task):
// "BIN SCRIPT ARGS..." with the container override's command as the
// arguments, DEPLOYER_SCRIPTS_DIR set to -scripts, DEPLOYER_STOP_GRACE 5
// seconds below the stop timeout (as the Terraform module's task
// definitions set it; half of a timeout under 10s) and the override's
// environment (DEPLOYER_JOB_ID, DEPLOYER_ATTEMPT, DEPLOYER_SECRET_*).
// Without it, a task runs the script of -scripts its command names. A
// script that is not there fails the task's start
// (CannotStartContainerError).
//
// Server-side faults: -throttle, -server-errors and -reset-after are
// probabilities per request, applied to every service, and -latency
// delays every request by up to that much. A reset-after runs the
// operation and then drops the connection without answering. -no-faults
// names operations spared every fault ("AmazonSQS.ReceiveMessage"),
// -no-reset-after those spared only resets (a ReceiveMessage whose answer
// is lost hides its messages for their visibility timeout, as on SQS);
// "AmazonSQS.ReceiveMessage/-job-" spares only the requests whose body
// holds "-job-".
//
// -task-logs-endpoint URL sends the tasks' output to the CloudWatch Logs
// of another loopback endpoint (an emulator such as moto serving the rest
// of a deployment, in us-east-1) instead of the fakes' own, in batches
// collected for -task-log-interval (250ms by default then; without it,
// each write of a container's output is written at once), as the awslogs
// driver batches them.
//
// -task-release-dir DIR holds every task RUNNING, once its container has
// exited and written its output, until a file named after its job id
// ($DEPLOYER_JOB_ID) exists in DIR: a test acts while the task runs
// (delivers its log), then lets it end.
//
// It prints "listening on URL" once it serves, and stops on SIGTERM. It
// prints "faults: total=N kind=N..." on stdout when it stops and on
// SIGUSR1.
//
// It is a test fixture, not an emulator to rely on: nothing in the
// product depends on its quirks.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/deployerhq/deployer/test/awsfake"
	"github.com/deployerhq/deployer/test/awsfake/ddbfake"
	"github.com/deployerhq/deployer/test/awsfake/ecsfake"
	"github.com/deployerhq/deployer/test/awsfake/logsfake"
	"github.com/deployerhq/deployer/test/awsfake/sqsfake"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	scripts := flag.String("scripts", "", "directory of the scripts ECS tasks run (command[0] names one)")
	group := flag.String("task-log-group", "/deployer-tasks", "log group the tasks' output goes to")
	prefix := flag.String("task-stream-prefix", "deployer/deployer/", "prefix of each task's log stream name")
	families := flag.String("task-definitions", "deployer", "comma-separated task definition families RunTask accepts")
	throttle := flag.Float64("throttle", 0, "probability that a request is answered ThrottlingException")
	serverErrors := flag.Float64("server-errors", 0, "probability that a request is answered 500 InternalFailure")
	resetAfter := flag.Float64("reset-after", 0, "probability that a request is served and its connection then dropped unanswered")
	latency := flag.Duration("latency", 0, "delay every request by up to this much (uniform)")
	except := flag.String("no-faults", "", "comma-separated X-Amz-Target operations never faulted (AmazonSQS.ReceiveMessage)")
	noResetAfter := flag.String("no-reset-after", "", "comma-separated X-Amz-Target operations never reset after being served; TARGET/TEXT: only requests whose body holds TEXT")
	seed := flag.Uint64("seed", 0, "seed of the faults (0: from the clock)")
	logsAt := flag.String("task-logs-endpoint", "", "loopback URL of the CloudWatch Logs (us-east-1) the tasks' output goes to, instead of the fakes' own")
	entrypoint := flag.String("task-entrypoint", "", "entrypoint of the tasks' image (deployer-task): a task runs BIN SCRIPT ARGS...")
	release := flag.String("task-release-dir", "", "hold each task RUNNING until DIR/<its job id> exists")
	stopTimeout := flag.Duration("task-stop-timeout", ecsfake.DefaultStopTimeout, "the task definitions' stopTimeout: SIGKILL follows SIGTERM after it")
	logInterval := flag.Duration("task-log-interval", -1, "how long a task's log events are collected before they are written (default: 250ms with -task-logs-endpoint, else none)")
	flag.Parse()
	f, err := newFaults(*throttle, *serverErrors, *resetAfter, *latency, *except, *noResetAfter, *seed)
	if err != nil {
		fmt.Fprintf(os.Stderr, "awsfakes: %v\n", err)
		os.Exit(2)
	}
	if *logInterval < 0 {
		*logInterval = 0
		if *logsAt != "" {
			*logInterval = remoteLogInterval
		}
	}
	tasks := taskRunner{scripts: *scripts, entrypoint: *entrypoint, release: *release, stopTimeout: *stopTimeout, logInterval: *logInterval}
	if err := serve(*addr, tasks, *group, *prefix, *families, *logsAt, f); err != nil {
		fmt.Fprintf(os.Stderr, "awsfakes: %v\n", err)
		os.Exit(1)
	}
}

func serve(addr string, tasks taskRunner, group, prefix, families, logsAt string, f *faults) error {
	if host, _, err := net.SplitHostPort(addr); err != nil || !net.ParseIP(host).IsLoopback() {
		return fmt.Errorf("-addr %q: must be a loopback address", addr)
	}
	srv := &awsfake.Server{Hook: f.hook}
	// SQS reports the signing access key id as the SenderId: tests map it
	// to a principal with DEPLOYER_PRINCIPALS.
	sq, err := sqsfake.New(sqsfake.Options{})
	if err != nil {
		return err
	}
	defer func() { _ = sq.Close() }()
	sq.Register(srv)
	logs := logsfake.New()
	logs.Register(srv)
	defs := map[string][]string{}
	for _, f := range strings.Split(families, ",") {
		defs[strings.TrimSpace(f)] = []string{"deployer"}
	}
	onLog := func(taskID string, lines []string) {
		now := time.Now()
		evs := make([]logsfake.Event, len(lines))
		for i, l := range lines {
			evs[i] = logsfake.Event{Time: now, Message: l}
		}
		logs.Append(group, prefix+taskID, evs...)
	}
	if logsAt != "" {
		if onLog, err = cloudWatchSink(logsAt, group, prefix); err != nil {
			return err
		}
	}
	ecs := ecsfake.New(ecsfake.Options{
		TaskDefinitions: defs,
		Run:             tasks.runFunc(),
		OnLog:           onLog,
		LogInterval:     tasks.logInterval,
		StopTimeout:     tasks.stopTimeout,
	})
	defer ecs.Close()
	srv.Add(ecs.Service())
	srv.Add(ddbfake.New(ddbfake.Options{}).Service())

	ln, err := new(net.ListenConfig).Listen(context.Background(), "tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: f.wrap(ddbfake.CRC32(srv)), ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer func() { fmt.Printf("faults: %s\n", f) }()
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	go func() {
		for {
			select {
			case <-usr1:
				fmt.Printf("faults: %s\n", f)
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// taskRunner runs the tasks' containers as local processes.
type taskRunner struct {
	// scripts is the scripts directory; entrypoint, when set, the image's
	// entrypoint; release, when set, the directory of release files.
	scripts, entrypoint, release string
	// stopTimeout is the task definition's stopTimeout; logInterval how
	// long a task's events are collected before they are written.
	stopTimeout, logInterval time.Duration
}

// remoteLogInterval is -task-log-interval's default with
// -task-logs-endpoint: the awslogs driver batches a container's events
// (every 5 seconds by default), and a call per write of the container's
// output would swamp an emulator.
const remoteLogInterval = 250 * time.Millisecond

// entrypointStopGrace is deployer-task's grace period variable.
const entrypointStopGrace = "DEPLOYER_STOP_GRACE"

// stopGrace is the DEPLOYER_STOP_GRACE the task definitions of the
// Terraform module give deployer-task: 5 seconds below the stopTimeout,
// or half of a stopTimeout shorter than 10 seconds.
func stopGrace(stopTimeout time.Duration) time.Duration {
	if stopTimeout < 10*time.Second {
		return stopTimeout / 2
	}
	return stopTimeout - 5*time.Second
}

// runFunc returns the ECS fake's RunFunc for these tasks.
func (r taskRunner) runFunc() ecsfake.RunFunc {
	env := map[string]string{}
	if r.entrypoint != "" {
		env[entrypointStopGrace] = stopGrace(r.stopTimeout).String()
	}
	run := ecsfake.Exec(ecsfake.ScriptsCommand(r.entrypoint, r.scripts, env))
	if r.release == "" {
		return run
	}
	return holdUntilReleased(r.release, run)
}

// releasePoll is how often a held task looks for its release file.
const releasePoll = 20 * time.Millisecond

// holdUntilReleased keeps each task RUNNING after its container exited
// (its whole output written) until a file named after its job id
// ($DEPLOYER_JOB_ID) exists in dir, or the task is stopped.
func holdUntilReleased(dir string, run ecsfake.RunFunc) ecsfake.RunFunc {
	return func(ctx context.Context, c ecsfake.Container) (func() int, error) {
		wait, err := run(ctx, c)
		if err != nil {
			return nil, err
		}
		file := filepath.Join(dir, c.Task.Env["DEPLOYER_JOB_ID"])
		return func() int {
			code := wait()
			tick := time.NewTicker(releasePoll)
			defer tick.Stop()
			for {
				if _, err := os.Stat(file); err == nil {
					return code
				}
				select {
				case <-tick.C:
				case <-c.Signals:
					return code
				case <-ctx.Done():
					return code
				}
			}
		}, nil
	}
}
