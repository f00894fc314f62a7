package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A spare supervisor makes its task's work directory while it waits for
// the task: home/, tmp/ and supervisor.log in work/spare-<pid>-<token>,
// which one rename makes WorkDir(stateDir, id) when the id comes. A new
// inode costs tens of µs, and up to hundreds where many came and went
// lately (an ext4 without a journal, as the CI machines' is, looks past
// each inode freed in the last half minute, one by one); a rename costs
// a few. Otherwise a task's four (its directory, home/, tmp/, the log)
// would be made after its id came, on the way from queued to running.

// spareDirPrefix starts the names of the directories spares make ahead;
// no task id starts with it (they start "lt-").
const spareDirPrefix = "spare-"

// spareDirName names the directory a spare made ahead: its pid and
// procToken, so that Prune can tell a living spare's from a dead one's.
func spareDirName(pid int, token string) string {
	return spareDirPrefix + strconv.Itoa(pid) + "-" + token
}

// parseSpareDirName is spareDirName's inverse; false for any other name.
func parseSpareDirName(name string) (pid int, token string, ok bool) {
	rest, ok := strings.CutPrefix(name, spareDirPrefix)
	if !ok {
		return 0, "", false
	}
	p, token, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, "", false
	}
	pid, err := strconv.Atoi(p)
	if err != nil || pid <= 0 {
		return 0, "", false
	}
	return pid, token, true
}

// readyDir is a work directory made ahead of its task, with its
// supervisor.log open.
type readyDir struct {
	path string
	log  *os.File
}

// makeReadyDir makes this spare's work directory under stateDir. An error
// leaves nothing behind: the task's directory is then made when it comes,
// as without a spare.
func makeReadyDir(stateDir string) (*readyDir, error) {
	pid := os.Getpid()
	path := filepath.Join(stateDir, "work", spareDirName(pid, procToken(pid)))
	// A dead process's with this pid and token (only possible without
	// /proc, where the token is "") is not taken for this one's.
	if err := os.RemoveAll(path); err != nil {
		return nil, fmt.Errorf("clearing %s: %w", path, err)
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("making the work directory ahead: %w", err)
	}
	d := &readyDir{path: path}
	err := func() error {
		if err := freshDirs(homeAndTmp(path)); err != nil {
			return fmt.Errorf("making the work directory ahead: %w", err)
		}
		f, err := openSupervisorLog(path)
		if err != nil {
			return fmt.Errorf("making the work directory ahead: %w", err)
		}
		d.log = f
		return nil
	}()
	if err != nil {
		d.discard()
		return nil, err
	}
	return d, nil
}

// take makes d the work directory dir of its task and points stderr at
// its supervisor.log; false, with d removed, when it cannot. d may be
// nil (false).
func (d *readyDir) take(dir string) bool {
	if d == nil {
		return false
	}
	// os.Rename would replace an empty directory at dir; nothing makes
	// one there for a task handed to a spare, and an empty one holds
	// nothing to lose.
	if err := os.Rename(d.path, dir); err != nil {
		d.discard()
		return false
	}
	logTo(d.log)
	return true
}

// discard removes d, a spare's directory no task will have. d may be nil.
func (d *readyDir) discard() {
	if d == nil {
		return
	}
	if d.log != nil {
		_ = d.log.Close()
	}
	_ = os.RemoveAll(d.path)
}

// pruneSpareDirs removes the directories made ahead by spares that are
// gone (killed before their task came; one that exits removes its own)
// and returns how many it removed.
func pruneSpareDirs(stateDir string) (int, error) {
	work := filepath.Join(stateDir, "work")
	entries, err := os.ReadDir(work)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("pruning spare supervisors' directories: %w", err)
	}
	n := 0
	for _, e := range entries {
		pid, token, ok := parseSpareDirName(e.Name())
		if !ok || !e.IsDir() || ours(pid, token) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(work, e.Name())); err != nil {
			return n, fmt.Errorf("pruning spare supervisors' directories: %w", err)
		}
		n++
	}
	return n, nil
}
