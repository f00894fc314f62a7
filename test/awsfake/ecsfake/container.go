package ecsfake

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	entrypoint "github.com/deployerhq/deployer/internal/task"
)

// EventBytes is where the awslogs driver cuts a line: Docker reads a
// container's output in pieces of at most 16 KiB, and each piece becomes
// one log event.
const EventBytes = 16 * 1024

// Container is one task's container, as a RunFunc starts it.
type Container struct {
	// Task is the task as it was when its container started: its id,
	// family, and the overridden container's command and environment.
	Task TaskInfo
	// Output takes the container's stdout and stderr, one stream: the
	// fake cuts it into log events as the awslogs driver does (one per
	// line, a line over EventBytes in several, no empty event) and hands
	// the events each Write completes to Options.OnLog before Write
	// returns. One writer at a time.
	Output io.Writer
	// Signals delivers what ECS sends the container: SIGTERM when the
	// task is stopped, SIGKILL the stop timeout later (at once when it is
	// killed for its memory).
	Signals <-chan syscall.Signal
}

// RunFunc starts a task's container when the task has been PENDING for
// its delay. It returns wait, which blocks until the container has
// exited and its output is written, and returns its exit code (128+n when
// signal n killed it); the task is RUNNING from when RunFunc returns until
// wait does. An error means the container could not start: the task stops
// with stop code TaskFailedToStart and "CannotStartContainerError: <err>"
// as its reason. ctx ends when the fake is closed: the container must then
// be killed and wait return.
type RunFunc func(ctx context.Context, c Container) (wait func() int, err error)

// drainIdle is how long a container's output may stay open after the
// container is gone: only a process that escaped it still holds it.
const drainIdle = time.Second

// Exec returns a RunFunc that runs each container as a local process:
// command returns the process for a task, not started (Exec sets its
// Stdout, Stderr and SysProcAttr). The process leads a process group of
// its own, as PID 1 of a container: SIGTERM goes to it alone (docker
// stop), SIGKILL to the whole group, and when it exits whatever it left in
// its group is killed, as the container is torn down. An error of command
// or of starting the process is the container's could-not-start error.
func Exec(command func(TaskInfo) (*exec.Cmd, error)) RunFunc {
	return func(ctx context.Context, c Container) (func() int, error) {
		cmd, err := command(c.Task)
		if err != nil {
			return nil, err
		}
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = w, w
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		err = cmd.Start()
		_ = w.Close()
		if err != nil {
			_ = r.Close()
			return nil, err
		}
		pgid := cmd.Process.Pid
		copied := make(chan struct{})
		go func() {
			defer close(copied)
			_, _ = io.Copy(c.Output, r)
		}()
		exited := make(chan struct{})
		go func() {
			_ = cmd.Wait() // the exit status is read from ProcessState
			close(exited)
		}()
		return func() int {
			done := ctx.Done()
		running:
			for {
				select {
				case sig := <-c.Signals:
					if sig == syscall.SIGKILL {
						_ = syscall.Kill(-pgid, syscall.SIGKILL)
					} else {
						_ = cmd.Process.Signal(sig)
					}
				case <-done:
					_ = syscall.Kill(-pgid, syscall.SIGKILL)
					done = nil
				case <-exited:
					break running
				}
			}
			// The container is torn down with its PID 1.
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			select {
			case <-copied:
			case <-time.After(drainIdle):
				_ = r.SetReadDeadline(time.Now())
				<-copied
			}
			_ = r.Close()
			return exitCode(cmd.ProcessState)
		}, nil
	}
}

// exitCode is a container's exit code as Docker reports it: the process's
// own, or 128+n when signal n killed it.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// playPlan is the RunFunc of a task without Options.Run: it writes the
// plan's lines (framed, with Options.Framed) and exits as planned.
func (f *Fake) playPlan(t *task) RunFunc {
	return func(ctx context.Context, c Container) (func() int, error) {
		p := t.plan
		var framer *entrypoint.Framer
		var buf bytes.Buffer
		lines := p.Lines
		if f.opts.Framed {
			attempt, _ := strconv.Atoi(c.Task.Env[entrypoint.EnvAttempt])
			framer = entrypoint.NewFramer(&buf, c.Task.Env[entrypoint.EnvJobID], max(attempt, 1))
			lines = records(&buf, framer, p.Lines, nil)
		}
		return func() int {
			f.log(c.Task.ID, lines)
			code, killed := p.ExitCode, false
			wantSignal := p.Sleep || p.Hold != nil || p.OutOfMemory
			if p.OutOfMemory {
				f.KillOutOfMemory(c.Task.ID)
			}
			hold := p.Hold
			for wantSignal {
				select {
				case sig := <-c.Signals:
					switch {
					case sig == syscall.SIGKILL:
						code, killed, wantSignal = 137, true, false
					case !p.IgnoreSIGTERM || !p.Sleep:
						code, wantSignal = 128+int(sig), false
					}
				case <-hold:
					wantSignal = false
				case <-ctx.Done():
					return 137
				}
			}
			if framer != nil && !killed {
				f.log(c.Task.ID, records(&buf, framer, nil, &code))
			}
			return code
		}, nil
	}
}

// records frames lines (and the end record, when end is set) and returns
// the records written.
func records(buf *bytes.Buffer, fr *entrypoint.Framer, lines []string, end *int) []string {
	buf.Reset()
	for _, l := range lines {
		fr.Line(l)
	}
	if end != nil {
		_ = fr.End(end, "")
	} else {
		fr.Flush()
	}
	if buf.Len() == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
}

// eventWriter cuts a container's output into log events as the awslogs
// driver does. Events are held until open: a process may write before
// the task is reported RUNNING. With every set, events are collected for
// that long (or until a PutLogEvents batch is full) before they are
// emitted, as the driver batches them.
type eventWriter struct {
	mu        sync.Mutex
	pending   []byte
	emit      func(events []string)
	every     time.Duration
	opened    bool
	final     bool
	held      []string
	heldBytes int
	timer     *time.Timer
}

// open delivers the events held so far and every later one.
func (w *eventWriter) open() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.opened = true
	w.send(nil)
}

// send delivers evs, after any held ones, or holds them. w.mu is held.
func (w *eventWriter) send(evs []string) {
	w.held = append(w.held, evs...)
	for _, e := range evs {
		w.heldBytes += len(e) + putEventOverhead
	}
	if !w.opened {
		return
	}
	if w.every > 0 && !w.final && len(w.held) < putMaxEvents && w.heldBytes < putMaxBytes {
		if w.timer == nil && len(w.held) > 0 {
			w.timer = time.AfterFunc(w.every, w.tick)
		}
		return
	}
	w.emitHeld()
}

// emitHeld emits the held events. w.mu is held.
func (w *eventWriter) emitHeld() {
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	if len(w.held) > 0 {
		evs := w.held
		w.held, w.heldBytes = nil, 0
		w.emit(evs)
	}
}

// tick emits what was collected for w.every.
func (w *eventWriter) tick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer = nil
	w.emitHeld()
}

func (w *eventWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	var evs []string
	for len(p) > 0 {
		room := EventBytes - len(w.pending)
		seg := p[:min(len(p), room)]
		if i := bytes.IndexByte(seg, '\n'); i >= 0 {
			w.pending = append(w.pending, seg[:i]...)
			evs = w.cut(evs)
			p = p[i+1:]
			continue
		}
		w.pending = append(w.pending, seg...)
		p = p[len(seg):]
		if len(w.pending) == EventBytes {
			evs = w.cut(evs)
		}
	}
	w.send(evs)
	return n, nil
}

// cut makes the pending bytes an event; CloudWatch Logs takes no empty
// event, so an empty line is none.
func (w *eventWriter) cut(evs []string) []string {
	if len(w.pending) > 0 {
		evs = append(evs, string(w.pending))
	}
	w.pending = w.pending[:0]
	return evs
}

// flush makes the output's unterminated last line an event and emits
// every event held.
func (w *eventWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.opened, w.final = true, true
	w.send(w.cut(nil))
}

// errNoCommand is Exec's error for a task whose container override has
// no command.
var errNoCommand = errors.New("the container override has no command")

// ScriptsCommand returns a command function for Exec that runs a task as
// an image whose entrypoint is entry (deployer-task) would: "entry
// COMMAND..." with the override's command as the arguments; without
// entry, the command's first word names an executable of scripts, run
// with the rest. The environment is PATH, DEPLOYER_SCRIPTS_DIR (scripts)
// and the override's; env adds to it (nil: nothing).
func ScriptsCommand(entry, scripts string, env map[string]string) func(TaskInfo) (*exec.Cmd, error) {
	return func(ti TaskInfo) (*exec.Cmd, error) {
		var cmd *exec.Cmd
		switch {
		case entry != "":
			cmd = exec.Command(entry, ti.Command...) //nolint:gosec,noctx // the test's own entrypoint; killed through Signals
		case len(ti.Command) == 0:
			return nil, errNoCommand
		case scripts == "" || strings.ContainsAny(ti.Command[0], "/\\") || ti.Command[0] == "..":
			return nil, errors.New("no such script: " + ti.Command[0])
		default:
			path := scripts + "/" + ti.Command[0]
			if _, err := os.Stat(path); err != nil {
				return nil, err
			}
			cmd = exec.Command(path, ti.Command[1:]...) //nolint:gosec,noctx // the test's own scripts; killed through Signals
		}
		cmd.Env = []string{"PATH=/usr/bin:/bin", entrypoint.EnvScriptsDir + "=" + scripts}
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		for k, v := range ti.Env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		return cmd, nil
	}
}
