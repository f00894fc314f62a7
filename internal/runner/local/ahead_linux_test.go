package local_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/deployerhq/deployer/internal/runner/local"
)

// TestSpareMakesItsTasksWorkDirectoryAhead: a spare supervisor makes the
// work directory (home/, tmp/, supervisor.log) while it waits, and its
// task gets that very directory, renamed: no inode is made after the
// task's id comes.
func TestSpareMakesItsTasksWorkDirectoryAhead(t *testing.T) {
	t.Parallel()
	e, spare, ready := readySpare(t)
	e.script("where", "#!/bin/sh\npwd\necho \"$TMPDIR\"\n")
	dirIno, homeIno := inode(t, ready), inode(t, filepath.Join(ready, "home"))

	task := e.start(e.spec("where"))
	if pid := e.supervisorPID(task.ID); pid != spare {
		t.Fatalf("supervisor pid %d, want the spare's %d", pid, spare)
	}
	got := e.waitStopped(task.ID)
	dir := local.WorkDir(e.stateDir, task.ID)
	want := []string{filepath.Join(dir, "home"), filepath.Join(dir, "tmp")}
	if got.ExitCode == nil || *got.ExitCode != 0 || !slices.Equal(e.lines(task.ID), want) {
		t.Fatalf("task %+v printed %q, want %q", got, e.lines(task.ID), want)
	}
	if ino := inode(t, dir); ino != dirIno {
		t.Errorf("the task's work directory is inode %d, not the one the spare made ahead (%d)", ino, dirIno)
	}
	if ino := inode(t, want[0]); ino != homeIno {
		t.Errorf("the task's home is inode %d, not the one the spare made ahead (%d)", ino, homeIno)
	}
	// Back from its task, the supervisor made another directory ahead,
	// which it takes with it when told to go.
	local.StopSpares(e.r)
	pidGone(t, spare)
	if _, err := os.Stat(ready); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the spare's directory outlived it: %v", err)
	}
	// The supervisor's diagnostics followed the directory.
	checkClaimLogged(t, dir)
}

// TestSpareWhoseDirectoryCannotBeTaken: when the task has a work
// directory already (a task handed again after its first supervisor
// never claimed it), the spare's is removed and the task's home and tmp
// are made fresh, as without a spare.
func TestSpareWhoseDirectoryCannotBeTaken(t *testing.T) {
	t.Parallel()
	e, spare, ready := readySpare(t)
	e.script("where", "#!/bin/sh\nls -A\n")
	spec := e.spec("where")
	dir := local.WorkDir(e.stateDir, local.TaskID(spec.JobID, spec.Attempt))
	if err := os.MkdirAll(filepath.Join(dir, "home"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "home", "left-over"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	task := e.start(spec)
	if pid := e.supervisorPID(task.ID); pid != spare {
		t.Fatalf("supervisor pid %d, want the spare's %d", pid, spare)
	}
	got := e.waitStopped(task.ID)
	if got.ExitCode == nil || *got.ExitCode != 0 || len(e.lines(task.ID)) != 0 {
		t.Fatalf("task %+v listed %q in its home, want it empty", got, e.lines(task.ID))
	}
	local.StopSpares(e.r)
	pidGone(t, spare)
	if _, err := os.Stat(ready); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the spare's directory outlived it: %v", err)
	}
	checkClaimLogged(t, dir)
}

// TestSpareThatCannotMakeItsDirectoryAhead: a spare whose directory
// cannot be made ahead (here work/ is a file when it starts) says so
// and runs its task all the same, in a work directory made when the
// task comes, as without a spare.
func TestSpareThatCannotMakeItsDirectoryAhead(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *local.Options) { o.SpareAtStart = true })
	e.script("where", "#!/bin/sh\npwd\n")
	work := filepath.Join(e.stateDir, "work")
	if err := os.WriteFile(work, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(local.KeepSpares(e.r))
	spares := local.SparePIDs(e.r)
	if len(spares) != 1 {
		t.Fatalf("spares %v, want one ready", spares)
	}
	waitForText(t, filepath.Join(e.stateDir, "spare-supervisors.log"), "the task's work directory will be made when it comes")
	if err := os.Remove(work); err != nil {
		t.Fatal(err)
	}

	task := e.start(e.spec("where"))
	if pid := e.supervisorPID(task.ID); pid != spares[0] {
		t.Fatalf("supervisor pid %d, want the spare's %d", pid, spares[0])
	}
	got := e.waitStopped(task.ID)
	dir := local.WorkDir(e.stateDir, task.ID)
	if want := filepath.Join(dir, "home"); got.ExitCode == nil || *got.ExitCode != 0 || !slices.Equal(e.lines(task.ID), []string{want}) {
		t.Fatalf("task %+v printed %q, want %q", got, e.lines(task.ID), want)
	}
	checkClaimLogged(t, dir)
}

// TestSpareRemovesItsDirectoryWhenNoTaskComes: a spare told to go (its
// stdin closed) takes the directory it made with it.
func TestSpareRemovesItsDirectoryWhenNoTaskComes(t *testing.T) {
	t.Parallel()
	e, _, ready := readySpare(t)
	local.StopSpares(e.r)
	if _, err := os.Stat(ready); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the spare's directory outlived it: %v", err)
	}
}

// TestPruneRemovesKilledSparesDirectories: the directory of a spare
// killed before its task came is Prune's; a living spare's is not.
func TestPruneRemovesKilledSparesDirectories(t *testing.T) {
	t.Parallel()
	e, spare, ready := readySpare(t)
	// Not a spare's: left alone whatever its name says.
	other := filepath.Join(e.stateDir, "work", "spare-not-a-pid")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}

	if n, err := e.r.Prune(t.Context(), time.Hour); err != nil || n != 0 {
		t.Errorf("Prune with the spare alive = %d, %v; want 0", n, err)
	}
	if _, err := os.Stat(ready); err != nil {
		t.Fatalf("Prune removed a living spare's directory: %v", err)
	}
	killAndAwait(t, spare)
	if n, err := e.r.Prune(t.Context(), time.Hour); err != nil || n != 1 {
		t.Errorf("Prune with the spare killed = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(ready); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed spare's directory is still there: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("Prune removed %s: %v", other, err)
	}
}

// TestSupervisorTakenBackStartsItsTaskAfresh: a supervisor back from a
// task gives the next one fresh, empty home and tmp directories of its
// own, and none of its descriptors (its socket to the runner is not the
// script's).
func TestSupervisorTakenBackStartsItsTaskAfresh(t *testing.T) {
	t.Parallel()
	e, spare := spareEnv(t)
	e.script("litter", "#!/bin/sh\ntouch \"$HOME/left-over\" \"$TMPDIR/left-over\"\n")
	e.script("look", "#!/bin/sh\nls -A \"$HOME\" \"$TMPDIR\"\nfor fd in /proc/$$/fd/*; do readlink \"$fd\" || true; done\n")
	first := e.waitStopped(e.start(e.spec("litter")).ID)
	if got := local.AwaitSpare(e.r, 0, 10*time.Second); got != spare {
		t.Fatalf("spare %d after the first task, want %d back", got, spare)
	}
	fds := openFiles(t, spare)
	second := e.start(e.spec("look"))
	if pid := e.supervisorPID(second.ID); pid != spare || e.supervisorPID(first.ID) != spare {
		t.Fatalf("supervisors %d and %d, want the spare's %d for both", e.supervisorPID(first.ID), pid, spare)
	}
	got := e.waitStopped(second.ID)
	dir := local.WorkDir(e.stateDir, second.ID)
	if got.ExitCode == nil || *got.ExitCode != 0 {
		t.Fatalf("task %+v", got)
	}
	for _, line := range e.lines(second.ID) {
		if strings.Contains(line, "left-over") || strings.Contains(line, "socket:") {
			t.Errorf("the second task saw %q; lines:\n%s", line, strings.Join(e.lines(second.ID), "\n"))
		}
	}
	if !slices.Contains(e.lines(second.ID), filepath.Join(dir, "home")+":") {
		t.Errorf("the second task did not list its own home %s; lines:\n%s", dir, strings.Join(e.lines(second.ID), "\n"))
	}
	// Nothing of a task stays open in the supervisor once it is back.
	if got := local.AwaitSpare(e.r, 0, 10*time.Second); got != spare {
		t.Fatalf("spare %d after the second task, want %d back", got, spare)
	}
	if after := openFiles(t, spare); !slices.Equal(after, fds) {
		t.Errorf("the supervisor back from its first task had open %q, from its second %q", fds, after)
	}
}

// openFiles lists what process pid has open: where each of its
// descriptors leads (/proc/PID/fd), sorted, pipes and sockets by kind.
func openFiles(t *testing.T, pid int) []string {
	t.Helper()
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var open []string
	for _, e := range entries {
		to, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if kind, _, ok := strings.Cut(to, ":["); ok {
			to = kind // pipe:[123], socket:[456]: the inode is the instance's
		}
		open = append(open, to)
	}
	slices.Sort(open)
	return open
}

// readySpare is a spareEnv keeping the real supervisor as its spare,
// once the spare has made its work directory ahead: it returns the env,
// the spare's pid and that directory.
func readySpare(t *testing.T) (e *env, spare int, ready string) {
	t.Helper()
	e, spare = spareEnv(t)
	ready = filepath.Join(e.stateDir, "work", local.SpareDirName(spare))
	waitForPath(t, e.stateDir, "work", filepath.Base(ready), "supervisor.log")
	return e, spare, ready
}

// checkClaimLogged fails unless the supervisor.log of the work directory
// dir says its task was claimed: the supervisor's diagnostics went there.
func checkClaimLogged(t *testing.T, dir string) {
	t.Helper()
	log, err := os.ReadFile(filepath.Join(dir, "supervisor.log"))
	if err != nil || !strings.Contains(string(log), "task claimed") {
		t.Errorf("the task's supervisor.log: %v\n%s", err, log)
	}
}

func TestParseSpareDirName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		pid   int
		token string
		ok    bool
	}{
		{name: local.SpareDirName(os.Getpid()), pid: os.Getpid(), token: startTime(t, os.Getpid()), ok: true},
		{name: "spare-42-", pid: 42, token: "", ok: true}, // no /proc: no token
		{name: "spare-42-7-8", pid: 42, token: "7-8", ok: true},
		{name: "spare-42"},
		{name: "spare--7"},
		{name: "spare-0-7"},
		{name: "spare-x-7"},
		{name: "lt-01JD3Q8Z5W6X7Y8Z9A0B1C2D3E-1"},
		{name: "spare"},
		{name: ""},
	} {
		pid, token, ok := local.ParseSpareDirName(tc.name)
		if pid != tc.pid || token != tc.token || ok != tc.ok {
			t.Errorf("ParseSpareDirName(%q) = %d, %q, %v; want %d, %q, %v", tc.name, pid, token, ok, tc.pid, tc.token, tc.ok)
		}
	}
}

// startTime is field 22 of /proc/pid/stat (the process's start time).
func startTime(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	return string(bytes.Fields(b[bytes.LastIndexByte(b, ')')+1:])[19])
}

// inode returns the inode number of path.
func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// killAndAwait kills pid and waits until it has exited (a zombie or
// gone), told by its pidfd.
func killAndAwait(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Close(fd) }()
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil {
		t.Fatal(err)
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}} //nolint:gosec // a descriptor fits
	for {
		n, err := unix.Poll(fds, 10_000)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			t.Fatal(err)
		case n == 0:
			t.Fatalf("pid %d did not exit within 10 s of SIGKILL", pid)
		}
		return
	}
}

// waitForPath waits until root/names[0]/names[1]/... exists, told by
// inotify as each name appears in its directory; it fails the test after
// 10 s.
func waitForPath(t *testing.T, root string, names ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	dir := root
	for _, name := range names {
		waitForName(t, dir, name, deadline)
		dir = filepath.Join(dir, name)
	}
}

// waitForName waits until dir holds name (created or moved there).
func waitForName(t *testing.T, dir, name string, deadline time.Time) {
	t.Helper()
	await(t, dir, unix.IN_CREATE|unix.IN_MOVED_TO, deadline, name+" did not appear in "+dir, func() bool {
		_, err := os.Lstat(filepath.Join(dir, name))
		return err == nil
	})
}

// waitForText waits until the file at path holds text.
func waitForText(t *testing.T, path, text string) {
	t.Helper()
	await(t, path, unix.IN_MODIFY, time.Now().Add(10*time.Second), path+" does not say "+strconv.Quote(text), func() bool {
		b, err := os.ReadFile(path)
		return err == nil && strings.Contains(string(b), text)
	})
}

// await waits until done holds: checked once path is watched for the
// inotify events of mask, so that nothing happens unseen between, and
// again after each read of them. It fails with what at deadline.
func await(t *testing.T, path string, mask uint32, deadline time.Time, what string, done func() bool) {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Close(fd) }()
	if _, err := unix.InotifyAddWatch(fd, path, mask); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for !done() {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatal(what)
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}} //nolint:gosec // a descriptor fits
		if _, err := unix.Poll(fds, int(left.Milliseconds())+1); err != nil && !errors.Is(err, syscall.EINTR) {
			t.Fatal(err)
		}
		if _, err := unix.Read(fd, buf); err != nil && !errors.Is(err, unix.EAGAIN) {
			t.Fatal(err)
		}
	}
}
