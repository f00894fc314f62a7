package task

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/deployerhq/deployer/internal/task/secretref"
	"github.com/deployerhq/deployer/schemas"
)

// Environment variables deployer-task reads. They are not passed on to the
// script, but for EnvJobID and EnvAttempt.
const (
	EnvJobID        = "DEPLOYER_JOB_ID"
	EnvAttempt      = "DEPLOYER_ATTEMPT"
	EnvScriptsDir   = "DEPLOYER_SCRIPTS_DIR"
	EnvStopGrace    = "DEPLOYER_STOP_GRACE"
	EnvSecretPrefix = secretref.VarPrefix // DEPLOYER_SECRET_<NAME>=<reference>
)

// Exit codes of deployer-task itself, when the script did not decide.
const (
	// ExitCouldNotStart: the script never started (refused, a secret
	// could not be resolved, exec failed). The runners report it as
	// "could not start"; a script that exits 125 itself is reported so
	// too.
	ExitCouldNotStart = 125
	// ExitUsage: deployer-task was called without a script or without a
	// job id; nothing was written to the log.
	ExitUsage = 64
)

// DefaultStopGrace is the time between forwarding SIGTERM and sending
// SIGKILL when DEPLOYER_STOP_GRACE is unset: below ECS's default
// stopTimeout of 30 seconds, so the end record is written before ECS
// kills the container.
const DefaultStopGrace = 25 * time.Second

// Secrets resolves the DEPLOYER_SECRET_* variables of an environment
// (a *secret.Resolver or a *secretproc.Resolver, which the programs'
// mains pass, so that this package does not link the AWS SDK's clients).
type Secrets interface {
	Environ(ctx context.Context, environ []string) ([]string, error)
}

// Options are one run of a script.
type Options struct {
	JobID   string
	Attempt int
	// ScriptsDir holds the scripts; Script names one, Args follow it.
	ScriptsDir string
	Script     string
	Args       []string
	// Environ is the environment the script's is made from: the
	// DEPLOYER_SECRET_* variables are resolved, deployer-task's own
	// variables removed.
	Environ []string
	// Dir is the script's working directory. Defaults to deployer-task's.
	Dir string
	// Secrets resolves secret references. Required when Environ holds
	// any.
	Secrets Secrets
	// Grace is the time between SIGTERM and SIGKILL. Defaults to
	// DefaultStopGrace.
	Grace time.Duration
	// Out receives the framed log, one JSON record per line, unless
	// Records is set: then Records takes the records as they are.
	Out     io.Writer
	Records RecordWriter
	// Signals delivers the stop requests (SIGTERM, SIGINT) to forward.
	Signals <-chan os.Signal
}

// VersionFlag is deployer-task's version probe, the command of every
// canary's task (schemas.CanaryCommand): "deployer-task --version" prints
// schemas.CanaryVersionPrefix and the version, and exits 0.
const VersionFlag = "--version"

// Main is deployer-task: args are the script and its arguments, the rest
// comes from the environment; version is what the version probe prints;
// secrets resolves the environment's secret references (Options.Secrets).
// It returns the process's exit code.
func Main(ctx context.Context, args []string, version string, secrets Secrets) int {
	if len(args) == 1 && args[0] == VersionFlag {
		return PrintVersion(os.Stdout, os.Getenv, version)
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	// SIGHUP and SIGPIPE must not kill the entrypoint before it has
	// written the end record.
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)

	o := Options{
		JobID: os.Getenv(EnvJobID), ScriptsDir: os.Getenv(EnvScriptsDir),
		Environ: os.Environ(), Secrets: secrets, Out: os.Stdout, Signals: sigs,
	}
	if len(args) == 0 || !schemas.ValidJobID(o.JobID) {
		fmt.Fprintf(os.Stderr, "usage: deployer-task SCRIPT [ARGS...], with %s (a job id), %s and %s set\n", EnvJobID, EnvAttempt, EnvScriptsDir)
		return ExitUsage
	}
	o.Script, o.Args, o.Attempt = args[0], args[1:], 1
	var problems []string
	if v := os.Getenv(EnvAttempt); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			problems = append(problems, fmt.Sprintf("%s=%q is not a positive number", EnvAttempt, v))
		} else {
			o.Attempt = n
		}
	}
	if v := os.Getenv(EnvStopGrace); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			problems = append(problems, fmt.Sprintf("%s=%q is not a duration such as 25s", EnvStopGrace, v))
		} else {
			o.Grace = d
		}
	}
	if len(problems) > 0 {
		f := NewFramer(o.Out, o.JobID, o.Attempt)
		return couldNotStart(f, strings.Join(problems, "; "))
	}
	return Run(ctx, o)
}

// PrintVersion is the version probe: it writes schemas.CanaryVersionPrefix
// and version as one line to w and returns 0. When getenv gives a job id
// (EnvJobID; a canary's task, which the runners give one as any task),
// the line is framed as that job's task log, with its end record, so
// that it reaches the job's followers and the local runner's supervisor
// as any script's output does; otherwise it is written as it is, for a
// person.
func PrintVersion(w io.Writer, getenv func(string) string, version string) int {
	line := schemas.CanaryVersionPrefix + version
	jobID := getenv(EnvJobID)
	if !schemas.ValidJobID(jobID) {
		if _, err := fmt.Fprintln(w, line); err != nil {
			return 1
		}
		return 0
	}
	attempt := 1
	if n, err := strconv.Atoi(getenv(EnvAttempt)); err == nil && n > 0 {
		attempt = n
	}
	return WriteVersion(NewFramer(w, jobID, attempt), version)
}

// WriteVersion writes the version probe's line, framed, and the end
// record to f, and returns the probe's exit code (1 when the log could not
// be written).
func WriteVersion(f *Framer, version string) int {
	f.Line(schemas.CanaryVersionPrefix + version)
	code := 0
	if err := f.End(&code, ""); err != nil {
		return 1
	}
	return 0
}

// Run runs the script to its end, writing the framed log to o.Out, and
// returns deployer-task's exit code. Cancelling ctx stops the script as
// SIGTERM would.
func Run(ctx context.Context, o Options) int {
	f := NewRecordFramer(o.Records, o.JobID, o.Attempt)
	if o.Records == nil {
		f = NewFramer(o.Out, o.JobID, o.Attempt)
	}
	if o.Grace <= 0 {
		o.Grace = DefaultStopGrace
	}
	path, err := ResolveScript(o.ScriptsDir, o.Script)
	if err != nil {
		return couldNotStart(f, err.Error())
	}
	env, err := scriptEnv(ctx, o)
	if err != nil {
		return couldNotStart(f, err.Error())
	}
	r, w, err := os.Pipe()
	if err != nil {
		return couldNotStart(f, fmt.Sprintf("creating the output pipe: %v", err))
	}
	cmd := exec.Command(path, o.Args...) //nolint:gosec,noctx // an allow-listed script, run without a shell; stopped by signals
	cmd.Args[0] = o.Script
	cmd.Env, cmd.Dir = env, o.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdin = nil // /dev/null
	// One *os.File for both: the script's stdout and stderr are one pipe,
	// so lines stay in the order they were written.
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	// Only the script holds the write end now, so the read end sees EOF
	// when the script's processes are gone.
	_ = w.Close()
	if err != nil {
		_ = r.Close()
		return couldNotStart(f, fmt.Sprintf("executing %s: %v", o.Script, unwrapPath(err)))
	}
	defer func() { _ = r.Close() }()
	return supervise(ctx, o, f, cmd, &watchedPipe{f: r})
}

// supervise pumps the script's output into the log, forwards stops and
// waits for the script and its output to end.
func supervise(ctx context.Context, o Options, f *Framer, cmd *exec.Cmd, pipe *watchedPipe) int {
	pgid := cmd.Process.Pid
	// Wait's error says no more than the exit status read below.
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	pumped := make(chan error, 1)
	go func() { pumped <- readLines(pipe, f.lineAt, f.Flush) }()

	var (
		stopReason            string
		killC, drainC         <-chan time.Time
		scriptDone, outputEnd bool
		exitAt                time.Time
		readErr               error
	)
	drain := time.NewTicker(drainIdle / 10)
	defer drain.Stop()
	stop := func(reason string) {
		if stopReason != "" || scriptDone {
			return
		}
		stopReason = reason
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		killC = time.After(o.Grace)
	}
	done := ctx.Done()
	// exitedC is exited until it is taken: closed, it would be ready at
	// every turn and the loop would spin until the output ends.
	exitedC := (<-chan struct{})(exited)
	for !scriptDone || !outputEnd {
		select {
		case <-exitedC:
			exitedC = nil
			scriptDone, exitAt = true, time.Now()
			// Whatever the script left running in its group goes with it.
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			drainC = drain.C
		case readErr = <-pumped:
			outputEnd = true
		case sig := <-o.Signals:
			stop(fmt.Sprintf("stopped: deployer-task received %v", sig))
		case <-done:
			done = nil
			stop("stopped: " + context.Cause(ctx).Error())
		case <-killC:
			killC = nil
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		case <-drainC:
			if pipe.silence(exitAt) > drainIdle {
				pipe.abandon()
				drainC = nil
			}
		}
	}
	if readErr != nil && !errors.Is(readErr, os.ErrDeadlineExceeded) {
		f.Line(fmt.Sprintf("deployer-task: reading the script's output: %v", readErr))
	}
	code := exitCode(cmd.ProcessState)
	_ = f.End(&code, stopReason)
	return code
}

// couldNotStart writes why the script did not start as the log's one line,
// closes the log and returns ExitCouldNotStart.
func couldNotStart(f *Framer, reason string) int {
	f.Line("deployer-task: the script could not start: " + reason)
	_ = f.End(nil, reason)
	return ExitCouldNotStart
}

// scriptEnv is the script's environment: o.Environ without deployer-task's
// own variables, with the secrets resolved.
func scriptEnv(ctx context.Context, o Options) ([]string, error) {
	env := slices.DeleteFunc(slices.Clone(o.Environ), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return k == EnvScriptsDir || k == EnvStopGrace
	})
	// An env:NAME reference reads NAME of deployer-task's environment: the
	// script gets the secret under its own name, not NAME as well.
	var secrets, read []string
	for _, kv := range env {
		k, ref, _ := strings.Cut(kv, "=")
		if name, ok := strings.CutPrefix(k, EnvSecretPrefix); ok {
			secrets = append(secrets, name)
			if v, ok := strings.CutPrefix(ref, secretref.EnvPrefix); ok {
				read = append(read, v)
			}
		}
	}
	if len(secrets) == 0 {
		return env, nil
	}
	if o.Secrets == nil {
		return nil, errors.New("the environment holds secret references and nothing resolves them")
	}
	env, err := o.Secrets.Environ(ctx, env)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(env, func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(read, k) && !slices.Contains(secrets, k)
	}), nil
}

// exitCode is the script's exit code, 128+n when signal n killed it.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
