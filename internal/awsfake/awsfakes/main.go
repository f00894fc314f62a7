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
	flag.Parse()
	f, err := newFaults(*throttle, *serverErrors, *resetAfter, *latency, *except, *noResetAfter, *seed)
	if err != nil {
		fmt.Fprintf(os.Stderr, "awsfakes: %v\n", err)
		os.Exit(2)
	}
	if err := serve(*addr, *scripts, *group, *prefix, *families, *logsAt, f); err != nil {
		fmt.Fprintf(os.Stderr, "awsfakes: %v\n", err)
		os.Exit(1)
	}
}

func serve(addr, scripts, group, prefix, families, logsAt string, f *faults) error {
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
			return run(scripts, command, env)
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
