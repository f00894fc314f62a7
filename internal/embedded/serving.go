package embedded

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ServeLock marks this process as serving the state directory until the
// returned release is called (or the process dies): each "deployer up"
// holds an exclusive lock on a file of its own, so several may serve at
// once and Served sees any of them.
func (b *Backend) ServeLock() (release func(), err error) {
	path := filepath.Join(b.Dir, fmt.Sprintf("up-%d.lock", os.Getpid()))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600) //nolint:gosec // path is built from the state directory and our pid
	if err != nil {
		return nil, fmt.Errorf("marking state directory as served: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("marking state directory as served: %w", err)
	}
	return func() {
		_ = os.Remove(path)
		_ = f.Close()
	}, nil
}

// Served reports whether a "deployer up" serves the state directory now.
// Lock files of processes that died are removed on the way.
func (b *Backend) Served() (bool, error) {
	paths, err := filepath.Glob(filepath.Join(b.Dir, "up-*.lock"))
	if err != nil {
		return false, err
	}
	for _, p := range paths {
		if !strings.HasSuffix(p, ".lock") {
			continue
		}
		f, err := os.Open(p) //nolint:gosec // a lock file found in our state directory
		if err != nil {
			continue // released meanwhile
		}
		err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
		_ = f.Close()
		switch {
		case errors.Is(err, unix.EWOULDBLOCK):
			return true, nil
		case err == nil:
			_ = os.Remove(p) // its holder is gone
		}
	}
	return false, nil
}
