package detached

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/embedded"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAwaitReady(t *testing.T) {
	pipe := func(t *testing.T) (r, w *os.File) {
		t.Helper()
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close(); _ = w.Close() })
		return r, w
	}
	t.Run("ready", func(t *testing.T) {
		r, w := pipe(t)
		fd, err := syscallDup(w)
		if err != nil {
			t.Fatal(err)
		}
		if err := Ready(fd); err != nil {
			t.Fatal(err)
		}
		if err := awaitReady(r, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("exited first", func(t *testing.T) {
		r, w := pipe(t)
		_ = w.Close()
		if err := awaitReady(r, 10*time.Second); err == nil || !strings.Contains(err.Error(), "stopped before it served") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("silent", func(t *testing.T) {
		r, _ := pipe(t)
		if err := awaitReady(r, 10*time.Millisecond); err == nil || !strings.Contains(err.Error(), "did not serve within") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestTuningFromTheEnvironment(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	idle, vis, err := tuning(getenv)
	if err != nil || idle != embedded.DefaultIdleExit || vis != 0 {
		t.Fatalf("defaults: %s, %s, %v", idle, vis, err)
	}
	env[IdleExitEnv], env[VisibilityEnv] = "2s", "5s"
	if idle, vis, err = tuning(getenv); err != nil || idle != 2*time.Second || vis != 5*time.Second {
		t.Fatalf("set: %s, %s, %v", idle, vis, err)
	}
	env[IdleExitEnv], env[VisibilityEnv] = "soon", "1s"
	_, _, err = tuning(getenv)
	if factory.Code(err) != 78 || !strings.Contains(err.Error(), IdleExitEnv) || !strings.Contains(err.Error(), VisibilityEnv) {
		t.Fatalf("bad values: %v (exit %d), want both named, exit 78", err, factory.Code(err))
	}
}

func TestArgsNameEverythingExplicitly(t *testing.T) {
	got := Args("/s", "/c.yaml", time.Second, 0)
	want := []string{"--backend", "embedded", "--state-dir", "/s", "--config", "/c.yaml", "up", "--idle-exit", "1s", "--ready-fd", "3"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := Args("/s", "/c.yaml", time.Second, 3*time.Second); !slices.Equal(got[len(got)-2:], []string{"--visibility", "3s"}) {
		t.Fatalf("got %q", got)
	}
}

func TestLogRotationAndTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), LogName)
	if err := os.WriteFile(path, make([]byte, MaxLog+1), 0o600); err != nil {
		t.Fatal(err)
	}
	rotate(path)
	if _, err := os.Stat(path + ".1"); err != nil {
		t.Fatalf("not rotated: %v", err)
	}
	if err := os.WriteFile(path, []byte("old\nnew failure\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rotate(path)
	if got := tail(path, 4); got != "new failure\n" {
		t.Fatalf("tail %q", got)
	}
	if got := tail(path, 16); got != "(nothing)" {
		t.Fatalf("tail of nothing new %q", got)
	}
}

// syscallDup duplicates f's descriptor, as a server inherits it.
func syscallDup(f *os.File) (int, error) { return syscall.Dup(int(f.Fd())) }

// TestBeginHoldsTheStartLockUntilWaitAbandonOrStop: Begin returns with
// the server started and the state directory's start lock held, so that
// another starter waits for this server rather than starting its own;
// Wait returns once the server says it serves (or quotes its log when it
// stopped first), Stop once the server is killed and reaped, and Wait,
// Abandon and Stop release the lock.
func TestBeginHoldsTheStartLockUntilWaitAbandonOrStop(t *testing.T) {
	for _, c := range []struct {
		name, server  string
		abandon, stop bool
		wantErr       []string
	}{
		{name: "serves", server: "printf 'ready\\n' >&3\n"},
		{name: "stops first", server: "echo 'no such container: nope' >&2\nexit 78\n",
			wantErr: []string{"stopped before it served", "no such container: nope"}},
		{name: "abandoned", server: "exec sleep 0\n", abandon: true},
		{name: "stopped", server: "exec sleep 600\n", stop: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			exe := filepath.Join(dir, "fake-deployer")
			if err := os.WriteFile(exe, []byte("#!/bin/sh\n"+c.server), 0o755); err != nil { //nolint:gosec // an executable
				t.Fatal(err)
			}
			cfg := filepath.Join(dir, "deployer.yaml")
			if err := os.WriteFile(cfg, []byte("containers: {}\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cl, err := client.OpenEmbedded(t.Context(), client.EmbeddedOptions{StateDir: filepath.Join(dir, "state"), Executable: exe})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cl.Close() }()
			f := &factory.Factory{Getenv: func(string) string { return "" }, ConfigPath: cfg,
				Executable: func() (string, error) { return exe, nil }}

			s, err := Begin(f, cl)
			if err != nil || s == nil {
				t.Fatalf("Begin: %v, %v; want a server starting", s, err)
			}
			lock := filepath.Join(cl.StateDir(), "serve-start.lock")
			if !locked(t, lock) {
				t.Fatal("the start lock is free while the server starts")
			}
			switch {
			case c.abandon:
				s.Abandon()
			case c.stop:
				if err := s.Stop(); err != nil {
					t.Fatal(err)
				}
				// Stop returned once it was reaped: its pid is no one's.
				if err := syscall.Kill(s.proc.Pid, 0); !errors.Is(err, syscall.ESRCH) {
					t.Errorf("the stopped server (pid %d) is still there: %v", s.proc.Pid, err)
				}
				if _, err := os.Stat(s.logPath); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the stopped server's empty log is still there: %v", err)
				}
			default:
				err = s.Wait()
				for _, want := range c.wantErr {
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Errorf("Wait: %v; want an error saying %q", err, want)
					}
				}
				if c.wantErr == nil && err != nil {
					t.Errorf("Wait: %v", err)
				}
			}
			if locked(t, lock) {
				t.Error("the start lock is still held after Wait, Abandon or Stop")
			}
			s.Abandon() // idempotent
		})
	}
}

// locked reports whether another open file description could not take
// the flock on path at once.
func locked(t *testing.T, path string) bool {
	t.Helper()
	fd, err := os.Open(path) //nolint:gosec // the test's own lock file
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = fd.Close() }()
	err = syscall.Flock(int(fd.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return false
}
