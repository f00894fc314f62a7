// Package detached starts "deployer up" as a server of its own for a
// state directory, apart from the command that needs it: in a session of
// its own, with no terminal, logging to serve.log in the state directory,
// and stopping by itself once idle. The starter learns that the server
// serves through a pipe the server inherits, never by polling.
package detached

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/embedded"
)

// Environment variables that tune the servers Start starts.
const (
	// IdleExitEnv is how long a detached server stays idle before it
	// stops (a Go duration). Defaults to embedded.DefaultIdleExit (30s).
	IdleExitEnv = "DEPLOYER_IDLE_EXIT"
	// VisibilityEnv is the detached server's --visibility: how long a job
	// it took stays hidden from others if it dies. Defaults to up's
	// default (worker.DefaultVisibility, 30s); at least 3s.
	VisibilityEnv = "DEPLOYER_VISIBILITY"
)

const (
	// LogName is the detached servers' log in the state directory.
	LogName = "serve.log"
	// MaxLog is the size past which serve.log is moved to serve.log.1
	// (replacing it) before a server starts.
	MaxLog = 4 << 20
	// ReadyTimeout bounds the wait for a started server to serve.
	ReadyTimeout = 30 * time.Second
	// ReadyFD is the server's descriptor of the readiness pipe: the
	// first of exec.Cmd.ExtraFiles.
	ReadyFD = 3
	// readyWord is what a server writes to the pipe once it serves.
	readyWord = "ready\n"
)

// Target is the state directory a server is started for: a client of the
// embedded backend, or the directory itself (embedded.Dir) for a command
// that starts the server before it opens the database.
type Target interface {
	// StateDir is the state directory (absolute).
	StateDir() string
	// Served reports whether a server serves it now.
	Served() (bool, error)
	// Where names it in messages.
	Where() string
}

var _ Target = (*client.Client)(nil)

// Dir is the Target of state directory dir, for a command that starts
// the server before it opens the directory's database.
func Dir(dir string) Target { return embedded.Dir(dir) }

// Start starts a detached server for the state directory of c (a client
// of the embedded backend), unless one serves it by the time it holds the
// start lock, and returns once that server serves. The server gets f's
// resolved configuration and the state directory explicitly and this
// process's environment. When it does not come up within ReadyTimeout,
// the error quotes its log.
func Start(f *factory.Factory, c Target) error {
	s, err := Begin(f, c)
	if err != nil || s == nil {
		return err
	}
	return s.Wait()
}

// Starting is a server Begin started that has not said it serves yet.
// Until Wait or Abandon, it holds the state directory's start lock:
// other starters wait, then find it serving.
type Starting struct {
	where   string
	ready   *os.File // the read end of the server's readiness pipe
	logPath string
	from    int64 // serve.log's size before the server started
	unlock  func()
	proc    *os.Process
	exited  <-chan struct{} // closed once proc has exited
}

// Begin is Start without the wait: it starts the server and returns, for
// a command with work to do meanwhile (a run submits its job while the
// server starts). It returns nil when a server serves already. The
// caller must end what it returns with Wait or Abandon.
func Begin(f *factory.Factory, c Target) (_ *Starting, err error) {
	idle, vis, err := tuning(f.Getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := f.ResolveConfigPath()
	if err != nil {
		return nil, err
	}
	if cfg, err = filepath.Abs(cfg); err != nil {
		return nil, factory.Config(fmt.Errorf("configuration %s: %w", cfg, err))
	}
	exe, err := f.Executable()
	if err != nil {
		return nil, fmt.Errorf("locating the deployer binary: %w", err)
	}

	// One starter at a time per state directory, so that commands that
	// find it unserved at once start one server, not one each.
	dir := c.StateDir()
	unlock, err := lockFile(filepath.Join(dir, "serve-start.lock"))
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			unlock()
		}
	}()
	if served, err := c.Served(); err != nil || served {
		return nil, err
	}

	logPath := filepath.Join(dir, LogName)
	rotate(logPath)
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) //nolint:gosec // our state directory's log
	if err != nil {
		return nil, fmt.Errorf("starting a server for %s: %w", c.Where(), err)
	}
	defer func() { _ = logFile.Close() }()
	from, _ := logFile.Seek(0, io.SeekEnd)
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, fmt.Errorf("starting a server for %s: %w", c.Where(), err)
	}
	defer func() { _ = devNull.Close() }()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("starting a server for %s: %w", c.Where(), err)
	}

	cmd := exec.Command(exe, Args(dir, cfg, idle, vis)...) //nolint:gosec,noctx // our own binary; the server outlives this command on purpose
	cmd.Dir = dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devNull, logFile, logFile
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	_ = w.Close() // the server holds the only write end now
	if err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("starting a server for %s: %w", c.Where(), err)
	}
	// Reap it if it stops while this command still runs.
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		_ = cmd.Wait()
	}()
	started = true
	return &Starting{where: c.Where(), ready: r, logPath: logPath, from: from, unlock: unlock,
		proc: cmd.Process, exited: exited}, nil
}

// Wait returns once the server serves, or with an error quoting its log
// when it stopped first or did not serve within ReadyTimeout; then it
// releases the start lock.
func (s *Starting) Wait() error {
	defer s.Abandon()
	if err := awaitReady(s.ready, ReadyTimeout); err != nil {
		return fmt.Errorf("the server started for %s (pid %d) %w; its log %s says:\n%s",
			s.where, s.proc.Pid, err, s.logPath, tail(s.logPath, s.from))
	}
	return nil
}

// Abandon releases the start lock without waiting: the server goes on
// starting, and stops once idle when nothing comes for it. For a command
// that fails before it needs the server. Wait calls it; it is
// idempotent.
func (s *Starting) Abandon() {
	if s.ready != nil {
		_ = s.ready.Close()
		s.ready = nil
		s.unlock()
	}
}

// Stop kills the server (SIGKILL: it has not said it serves), waits
// until it has exited (StopTimeout at most), and releases the start lock:
// for a command that finds, once the server started, that it should not
// have (a run whose configuration turns out broken).
func (s *Starting) Stop() error {
	defer s.Abandon()
	_ = s.proc.Kill()
	t := time.NewTimer(StopTimeout)
	defer t.Stop()
	select {
	case <-s.exited:
		// A log this server made and wrote nothing to goes with it.
		if st, err := os.Stat(s.logPath); err == nil && s.from == 0 && st.Size() == 0 {
			_ = os.Remove(s.logPath)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("the server started for %s (pid %d) did not exit within %s of SIGKILL", s.where, s.proc.Pid, StopTimeout)
	}
}

// StopTimeout is how long Stop waits for a killed server to exit.
const StopTimeout = 10 * time.Second

// Args are the arguments of a detached server ("deployer ... up ...").
func Args(stateDir, config string, idle, visibility time.Duration) []string {
	args := []string{"--backend", factory.BackendEmbedded, "--state-dir", stateDir, "--config", config,
		"up", "--idle-exit", idle.String(), "--ready-fd", strconv.Itoa(ReadyFD)}
	if visibility > 0 {
		args = append(args, "--visibility", visibility.String())
	}
	return args
}

// tuning reads IdleExitEnv and VisibilityEnv; a bad value is a
// configuration error.
func tuning(getenv func(string) string) (idle, visibility time.Duration, err error) {
	idle = embedded.DefaultIdleExit
	parse := func(name string, d *time.Duration, least time.Duration) error {
		v := getenv(name)
		if v == "" {
			return nil
		}
		p, err := time.ParseDuration(v)
		if err != nil || p < least {
			return factory.Config(fmt.Errorf("$%s=%q: want a duration of at least %s", name, v, least))
		}
		*d = p
		return nil
	}
	err = errors.Join(parse(IdleExitEnv, &idle, time.Millisecond), parse(VisibilityEnv, &visibility, 3*time.Second))
	return idle, visibility, err
}

// awaitReady waits up to d for the server's word on r. The pipe ends
// without it when the server exits first.
func awaitReady(r *os.File, d time.Duration) error {
	if err := r.SetReadDeadline(time.Now().Add(d)); err != nil {
		return fmt.Errorf("could not be waited for: %w", err)
	}
	buf := make([]byte, len(readyWord))
	n, err := io.ReadFull(r, buf)
	switch {
	case err == nil && string(buf[:n]) == readyWord:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("did not serve within %s", d)
	default:
		return errors.New("stopped before it served")
	}
}

// Ready tells the starter, through the descriptor fd it inherited, that
// the server serves. Called once; the descriptor is closed after.
func Ready(fd int) error {
	f := os.NewFile(uintptr(fd), "ready")
	if f == nil {
		return fmt.Errorf("ready descriptor %d is not open", fd)
	}
	defer func() { _ = f.Close() }()
	_, err := f.WriteString(readyWord)
	return err
}

// lockFile takes an exclusive lock on path, waiting for it (a starter
// holds it for ReadyTimeout at most).
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600) //nolint:gosec // a lock file in our state directory
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { _ = f.Close() }, nil
}

// rotate moves the log aside when it has grown past MaxLog.
func rotate(path string) {
	if st, err := os.Stat(path); err == nil && st.Size() > MaxLog {
		_ = os.Rename(path, path+".1")
	}
}

// tail is what the log gained from offset on, at most its last 4 KiB.
func tail(path string, from int64) string {
	b, err := os.ReadFile(path) //nolint:gosec // our state directory's log
	if err != nil || from > int64(len(b)) {
		return "(unreadable)"
	}
	b = b[from:]
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "(nothing)"
	}
	return string(b)
}
