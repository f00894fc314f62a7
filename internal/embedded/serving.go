package embedded

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

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
func (b *Backend) Served() (bool, error) { return Dir(b.Dir).Served() }

// Dir is a state directory, before (or without) opening its database:
// what a command needs to know of it to start a server for it (see
// package detached).
type Dir string

// StateDir returns d.
func (d Dir) StateDir() string { return string(d) }

// Where names d as Backend.Where does.
func (d Dir) Where() string { return "state directory " + string(d) }

// Served is Backend.Served of d.
func (d Dir) Served() (bool, error) {
	paths, err := filepath.Glob(filepath.Join(string(d), "up-*.lock"))
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
			_ = os.Remove(strings.TrimSuffix(p, ".lock") + ".json")
		}
	}
	return false, nil
}

// ServedConfig is what a "deployer up" serving a state directory
// enforces, as it publishes it beside its lock file (up-<pid>.json), so
// that commands given another configuration can tell (see
// ServedConfigs).
type ServedConfig struct {
	// PID is the serving process.
	PID int `json:"pid"`
	// Config is the absolute path of the configuration file it enforces.
	Config string `json:"config"`
	// PolicyDigest names the policy in force (policy.Policy.Digest).
	PolicyDigest string `json:"policy_digest"`
	// Source names the bytes of Config that policy was parsed from
	// (policy.Policy.Source); empty from servers of earlier versions.
	Source string `json:"source,omitempty"`
	// Since is when that policy was put in force.
	Since time.Time `json:"since"`
	// Supervisors says what supervises its tasks and why
	// (Backend.SupervisorAbout); empty from servers of earlier versions.
	Supervisors string `json:"supervisors,omitempty"`
}

// PublishServed records, for this process, the configuration it enforces
// (PID is set to this process's). It replaces the record atomically, so
// that a reader sees the old record or the new one, never a part.
func (b *Backend) PublishServed(c ServedConfig) error {
	c.PID = os.Getpid()
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("publishing the served configuration: %w", err)
	}
	path := filepath.Join(b.Dir, fmt.Sprintf("up-%d.json", c.PID))
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("publishing the served configuration: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("publishing the served configuration: %w", err)
	}
	return nil
}

// UnpublishServed removes this process's record of PublishServed.
func (b *Backend) UnpublishServed() {
	_ = os.Remove(filepath.Join(b.Dir, fmt.Sprintf("up-%d.json", os.Getpid())))
}

// ServedConfigs lists what the "deployer up"s that serve state directory
// dir now enforce (see PublishServed), by pid; a server that published
// nothing is left out. It reads files only, so it opens no database and
// creates nothing: a directory that does not exist is served by nobody.
func ServedConfigs(dir string) ([]ServedConfig, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "up-*.json"))
	if err != nil {
		return nil, err
	}
	var out []ServedConfig
	for _, p := range paths {
		pid, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "up-"), ".json"))
		if err != nil || !locked(strings.TrimSuffix(p, ".json")+".lock") {
			continue
		}
		data, err := os.ReadFile(p) //nolint:gosec // a record found in our state directory
		if err != nil {
			continue // released meanwhile
		}
		var c ServedConfig
		if json.Unmarshal(data, &c) != nil || c.PID != pid {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// locked reports whether a process holds the lock file at path.
func locked(path string) bool {
	f, err := os.Open(path) //nolint:gosec // a lock file found in our state directory
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	return errors.Is(unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB), unix.EWOULDBLOCK)
}
