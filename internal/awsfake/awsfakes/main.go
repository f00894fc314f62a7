// Command awsfakes serves the HTTP-level AWS fakes (SQS, CloudWatch Logs,
// ECS, DynamoDB) at one loopback endpoint, for end-to-end tests that run
// the real deployer binaries with --backend aws and AWS_ENDPOINT_URL
// pointing here. ECS tasks run the named script from -scripts locally
// when RunTask is called, and their output lines become the task's
// CloudWatch log stream, as the awslogs driver would write it.
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
// of a deployment, in us-east-1) instead of the fakes' own.
//
// -task-entrypoint BIN runs every task as an image whose entrypoint is
// BIN (deployer-task): "BIN SCRIPT ARGS..." with the container override's
// command as the arguments, DEPLOYER_SCRIPTS_DIR set to -scripts and the
// override's environment (DEPLOYER_JOB_ID, DEPLOYER_ATTEMPT,
// DEPLOYER_SECRET_*). Its stdout and stderr become the task's log events
// as the awslogs driver writes them: one event per line, a line longer
// than 16 KiB split into events of 16 KiB, empty lines left out. Without
// it, a task runs the named script of -scripts itself and each line of
// its output is one event.
//
// -task-release-dir DIR holds every task RUNNING, once it has written its
// output, until a file named after its job id ($DEPLOYER_JOB_ID) exists in
// DIR: a test acts while the task runs (delivers its log), then lets it
// end.
//
// It prints "listening on URL" once it serves, and stops on SIGTERM. It
// prints "faults: total=N kind=N..." on stdout when it stops and on
// SIGUSR1.
//
// It is a test fixture, not an emulator to rely on: nothing in the
// product depends on its quirks.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/deployerhq/deployer/internal/awsfake"
	"github.com/deployerhq/deployer/internal/awsfake/ddbfake"
	"github.com/deployerhq/deployer/internal/awsfake/ecsfake"
	"github.com/deployerhq/deployer/internal/awsfake/logsfake"
	"github.com/deployerhq/deployer/internal/awsfake/sqsfake"
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
	flag.Parse()
	f, err := newFaults(*throttle, *serverErrors, *resetAfter, *latency, *except, *noResetAfter, *seed)
	if err != nil {
		fmt.Fprintf(os.Stderr, "awsfakes: %v\n", err)
		os.Exit(2)
	}
	tasks := taskRunner{scripts: *scripts, entrypoint: *entrypoint, release: *release}
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
		Behave: func(_ string, command []string, env map[string]string) ecsfake.Plan {
			return tasks.run(command, env)
		},
		OnLog: onLog,
	})
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

// taskTimeout bounds a task's run: RunTask waits for it.
const taskTimeout = 2 * time.Minute

// awslogsEventBytes is where the awslogs driver splits a line: Docker
// reads a container's output in lines of at most 16 KiB, and each piece
// becomes one log event.
const awslogsEventBytes = 16 * 1024

// taskRunner runs the tasks' commands.
type taskRunner struct {
	// scripts is the scripts directory; entrypoint, when set, the image's
	// entrypoint; release, when set, the directory of release files.
	scripts, entrypoint, release string
}

// run executes a task's command, as the task's container would, and
// returns its output lines (log events) and exit code.
func (r taskRunner) run(command []string, env map[string]string) ecsfake.Plan {
	var p ecsfake.Plan
	if r.entrypoint != "" {
		p = runEntrypoint(r.entrypoint, r.scripts, command, env)
	} else {
		p = run(r.scripts, command, env)
	}
	if r.release != "" && p.FailToStart == "" {
		file := filepath.Join(r.release, env["DEPLOYER_JOB_ID"])
		p.Hold = func() bool {
			_, err := os.Stat(file)
			return err != nil
		}
	}
	return p
}

// runEntrypoint runs "entrypoint command..." with the scripts directory and
// the task's environment, and returns its output as the awslogs driver
// would write it: one event per line, a line longer than
// awslogsEventBytes in several, and empty lines left out (CloudWatch Logs
// takes no empty event).
func runEntrypoint(entrypoint, scripts string, command []string, env map[string]string) ecsfake.Plan {
	ctx, cancel := context.WithTimeout(context.Background(), taskTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, entrypoint, command...) //nolint:gosec // the test's own entrypoint
	cmd.Env = []string{"PATH=/usr/bin:/bin", "DEPLOYER_SCRIPTS_DIR=" + scripts}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return ecsfake.Plan{FailToStart: "CannotStartContainerError: " + err.Error()}
	}
	// The container's stdout and stderr are one stream of the log.
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return ecsfake.Plan{FailToStart: "CannotStartContainerError: " + err.Error()}
	}
	lines, readErr := awslogsEvents(out)
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case readErr != nil:
		return ecsfake.Plan{FailToStart: "CannotStartContainerError: reading the output: " + readErr.Error()}
	case err == nil:
		return ecsfake.Plan{Lines: lines}
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ecsfake.Plan{Lines: lines, ExitCode: ee.ExitCode()}
	default:
		return ecsfake.Plan{FailToStart: "CannotStartContainerError: " + err.Error()}
	}
}

// awslogsEvents reads output to its end and cuts it into log events as
// the awslogs driver does.
func awslogsEvents(output io.Reader) ([]string, error) {
	br := bufio.NewReaderSize(output, awslogsEventBytes)
	var events []string
	for {
		chunk, err := br.ReadSlice('\n')
		// A full buffer without a newline is one event; the line goes on
		// in the next.
		if msg := string(bytes.TrimSuffix(chunk, []byte("\n"))); msg != "" {
			events = append(events, msg)
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return events, nil
		default:
			return events, err
		}
	}
}

// run executes a task's command from the scripts directory, as the task's
// container would, and returns its output lines and exit code. A script
// that is not there fails to start, as a container whose image lacks it.
func run(scripts string, command []string, env map[string]string) ecsfake.Plan {
	if scripts == "" || len(command) == 0 || strings.ContainsAny(command[0], "/\\") {
		return ecsfake.Plan{FailToStart: "CannotStartContainerError: no such script"}
	}
	path := filepath.Join(scripts, command[0])
	if _, err := os.Stat(path); err != nil {
		return ecsfake.Plan{FailToStart: "CannotStartContainerError: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), taskTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, command[1:]...) //nolint:gosec // the test's own scripts
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return ecsfake.Plan{Lines: lines}
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ecsfake.Plan{Lines: lines, ExitCode: ee.ExitCode()}
	default:
		return ecsfake.Plan{FailToStart: "CannotStartContainerError: " + err.Error()}
	}
}
