// Package reload keeps the policy in force (a policy.Live) in step with its
// configuration file while a pipeline serves: on request (SIGHUP) and when
// the file changes.
//
// # Guarantees
//
//   - A new policy is put in force only when the file loads and validates
//     with the same checks as at start (Reloader.Load); otherwise the old
//     policy stays in force and one message names the file and every
//     problem.
//   - A policy put in force decides the very next request: the swap is
//     atomic (policy.Live) and nothing restarts.
//   - The file's directory is watched, not the file, so an editor that
//     replaces the file (write a copy, rename it over) is seen, and so is a
//     Kubernetes ConfigMap's swap of the symlink the file resolves through.
//     Changes are debounced: the file is read once it has been quiet for
//     Debounce.
//   - Reloads never overlap.
package reload

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/deployerhq/deployer/gatekeeper/policy"
)

// DefaultDebounce is how long the file must be quiet after a change before
// it is read.
const DefaultDebounce = 100 * time.Millisecond

// Reloader reloads the policy in force from its configuration file.
type Reloader struct {
	// Path is the configuration file. Required.
	Path string
	// Load loads and validates the file as at start (for the embedded
	// backend, every script must exist). Required.
	Load func(path string) (*policy.Policy, error)
	// Live holds the policy in force. Required.
	Live *policy.Live
	// Prepare, when set, is called with a new policy before it is put in
	// force (to create the run queues of new lanes). Its failure is
	// reported and the policy is put in force anyway: the gatekeeper
	// creates a missing run queue on demand.
	Prepare func(ctx context.Context, p *policy.Policy) error
	// Applied, when set, is called with each policy put in force (to
	// publish its digest).
	Applied func(p *policy.Policy)
	// Out receives one message per reload: "deployer: configuration
	// reloaded: sha256:…", or why the file was refused. Defaults to
	// io.Discard.
	Out io.Writer
	// Debounce is how long the file must be quiet after a change before
	// it is read. Defaults to DefaultDebounce.
	Debounce time.Duration

	reloading sync.Mutex // one reload at a time
	mu        sync.Mutex // guards watcher
	watcher   *fsnotify.Watcher
}

// Reload loads the file now and, when it is valid, puts its policy in
// force and returns it. why says what asked for it ("SIGHUP", "file
// changed"). A file that cannot be loaded returns the error and leaves the
// policy in force as it was.
func (r *Reloader) Reload(ctx context.Context, why string) (*policy.Policy, error) {
	r.reloading.Lock()
	defer r.reloading.Unlock()
	old := r.Live.Current()
	p, err := r.Load(r.Path)
	if err != nil {
		r.printf("deployer: configuration %s refused (%s); still enforcing %s:\n%s\n",
			r.Path, why, old.Digest(), indent(err.Error()))
		return nil, fmt.Errorf("reloading configuration %s: %w", r.Path, err)
	}
	if r.Prepare != nil {
		if err := r.Prepare(ctx, p); err != nil {
			r.printf("deployer: preparing configuration %s: %v (putting it in force anyway)\n", r.Path, err)
		}
	}
	r.Live.Store(p)
	if r.Applied != nil {
		r.Applied(p)
	}
	was := "unchanged"
	if d := old.Digest(); d != p.Digest() {
		was = "was " + d
	}
	r.printf("deployer: configuration reloaded: %s (%s; %s, %s)\n", p.Digest(), was, r.Path, why)
	return p, nil
}

// Watch starts watching the file's directory; once it returns, every
// change of the file is seen by Run. Without it, Run reloads on SIGHUP
// only.
func (r *Reloader) Watch() error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching configuration %s: %w", r.Path, err)
	}
	dir := filepath.Dir(r.Path)
	if err := w.Add(dir); err != nil {
		_ = w.Close()
		return fmt.Errorf("watching configuration %s: directory %s: %w", r.Path, dir, err)
	}
	r.mu.Lock()
	r.watcher = w
	r.mu.Unlock()
	return nil
}

// Run reloads on every value received from hup and, after Watch,
// whenever the file changes, until ctx ends; it then stops watching.
func (r *Reloader) Run(ctx context.Context, hup <-chan os.Signal) {
	var events <-chan fsnotify.Event
	var errs <-chan error
	relevant := func(string) bool { return false }
	r.mu.Lock()
	w := r.watcher
	r.mu.Unlock()
	if w != nil {
		defer func() { _ = w.Close() }()
		events, errs = w.Events, w.Errors
		relevant = r.relevant()
	}
	debounce := r.Debounce
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			_, _ = r.Reload(ctx, "SIGHUP")
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.Op != fsnotify.Chmod && relevant(ev.Name) {
				timer.Reset(debounce)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			r.printf("deployer: watching configuration %s: %v (SIGHUP still reloads it)\n", r.Path, err)
		case <-timer.C:
			_, _ = r.Reload(ctx, "file changed")
		}
	}
}

// relevant returns which events of the watched directory may change the
// file: its own, or, when the file is a symbolic link (a Kubernetes
// ConfigMap's), any, since the link's target changes by a swap elsewhere
// in the directory. A change that turns out to leave the policy as it was
// reloads it unchanged.
func (r *Reloader) relevant() func(name string) bool {
	clean := filepath.Clean(r.Path)
	if fi, err := os.Lstat(clean); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return func(string) bool { return true }
	}
	return func(name string) bool { return filepath.Clean(name) == clean }
}

func (r *Reloader) printf(format string, args ...any) {
	if r.Out != nil {
		_, _ = fmt.Fprintf(r.Out, format, args...)
	}
}

// indent puts every line of s two spaces in, so that the problems of a
// refused file read as one message in a log.
func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}
