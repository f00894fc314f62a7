package sqlitedb

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"time"
)

// Changes tells the waiters of one process that some process changed a
// database, so that they look at once rather than at their next poll. A
// commit in WAL mode writes the -wal file, and the kernel reports that
// write to every process watching the directory (inotify on Linux): the
// waiters wake at a commit, whoever made it, and once more when it is
// surely visible (see changed). Reads write nothing there, so looking
// never wakes anyone.
//
// A wake-up says only "look": waiters keep their polls, which are what
// they fall back on where the platform reports no file writes (kqueue
// reports a directory's entries, not writes to its files) or when the
// watch could not be set up.
//
// The file is watched while someone waits (between Watch and
// Watcher.Close), so that a process with no waiter holds no watch.
type Changes struct {
	path, wal string

	mu    sync.Mutex
	next  chan struct{} // closed at the next change, then replaced
	users int
	stop  func() // ends the watch; nil while nobody watches
	// tokens is how many wake-ups may come at once (at most WakeBurst),
	// one more every MinGap since credited.
	tokens   int
	credited time.Time
	trail    *time.Timer      // the wake-up after the last write
	fires    int              // wake-ups so far
	now      func() time.Time // the clock (tests set their own)
	// trailIn is how long after the last write the trailing wake-up
	// comes: MinGap (tests put it off).
	trailIn time.Duration
}

var (
	changesMu sync.Mutex
	changes   = map[string]*Changes{}
)

// ChangesOf returns the Changes of db's main file, shared by every caller
// in the process. A database whose file it cannot name (in memory) gets
// Changes that never fire.
func ChangesOf(ctx context.Context, db *sql.DB) *Changes {
	var (
		seq        int
		name, file string
	)
	if err := db.QueryRowContext(ctx, "PRAGMA database_list").Scan(&seq, &name, &file); err != nil || file == "" {
		return newChanges("")
	}
	return changesOf(file)
}

func changesOf(path string) *Changes {
	path = filepath.Clean(path)
	changesMu.Lock()
	defer changesMu.Unlock()
	if c := changes[path]; c != nil {
		return c
	}
	c := newChanges(path)
	changes[path] = c
	return c
}

// newChanges returns the Changes of the database file at path; none (a
// Changes that never fires) when path is empty.
func newChanges(path string) *Changes {
	c := &Changes{path: path, next: make(chan struct{}), tokens: WakeBurst, now: time.Now, trailIn: MinGap}
	if path != "" {
		c.wal = path + "-wal"
	}
	c.credited = c.now()
	return c
}

// Watcher is one waiter's hold on a Changes.
type Watcher struct {
	c    *Changes
	once sync.Once
}

// Watch starts watching (when nobody in the process does yet). Call it
// before looking at the database, take Next before each look, and Close
// the Watcher when done waiting.
func (c *Changes) Watch() *Watcher {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users++
	if c.stop == nil && c.path != "" {
		// A watch that cannot be set up leaves stop nil: the waiters
		// poll, and the next Watch tries again.
		c.stop, _ = watchDir(filepath.Dir(c.path),
			[]string{filepath.Base(c.wal), filepath.Base(c.path)}, c.changed)
	}
	return &Watcher{c: c}
}

// Next returns a channel closed at the next change after the call.
func (w *Watcher) Next() <-chan struct{} {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.next
}

// Watching reports whether changes are reported at all (false: the
// waiter's polls alone find them).
func (w *Watcher) Watching() bool {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.stop != nil
}

// WatchedPoll is how often a waiter whose changes are reported still
// looks: a safety net, for what commits nothing.
const WatchedPoll = 250 * time.Millisecond

// Poll is how often a waiter that would poll every base looks: base, or
// no more often than WatchedPoll while changes are reported.
func (w *Watcher) Poll(base time.Duration) time.Duration {
	if w.Watching() {
		return max(base, WatchedPoll)
	}
	return base
}

// Close releases the hold; the last one stops the watch. It is
// idempotent.
func (w *Watcher) Close() {
	w.once.Do(func() {
		c := w.c
		c.mu.Lock()
		c.users--
		var stop func()
		if c.users == 0 {
			stop, c.stop = c.stop, nil
		}
		c.mu.Unlock()
		if stop != nil {
			stop()
		}
	})
}

// MinGap and WakeBurst pace the wake-ups. A job crosses processes as a
// chain of small commits, each awaited by the next process (the request,
// the gatekeeper's order, the worker's start, the task's end): up to
// WakeBurst wake-ups in a row come at once. A task writing lines as fast
// as it can commits in a burst, which wakes the waiters once per MinGap
// after that, not once per commit; the last commit of a burst always
// wakes them. A burst of 32 holds a no-op job's whole chain (~20 commits,
// every process sees them all): with 4, the later hops waited for a
// token, 2–4 ms in all; see docs/performance.md.
const (
	MinGap    = 2 * time.Millisecond
	WakeBurst = 32
)

// changed is called by the watch for writes to the database's files.
// A commit becomes visible only after its last write (and the update of
// the WAL's index that follows it), and the kernel merges the writes of a
// commit into one event when nobody read between them: a wake-up at the
// first event can come before the commit is visible, and the waiters'
// look then finds nothing. So a write wakes the waiters at once while
// the burst lasts, and always once more MinGap after the last write,
// when its commit is surely visible.
func (c *Changes) changed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wrote()
}

// wrote is changed with c.mu held.
func (c *Changes) wrote() {
	c.credit(c.now())
	if c.tokens > 0 {
		c.fire()
	}
	if c.trail == nil {
		c.trail = time.AfterFunc(c.trailIn, c.trailing)
	} else {
		c.trail.Reset(c.trailIn)
	}
}

// credit adds the tokens earned since the last credit; c.mu is held.
func (c *Changes) credit(now time.Time) {
	if n := int(now.Sub(c.credited) / MinGap); n > 0 {
		c.tokens = min(WakeBurst, c.tokens+n)
		c.credited = c.credited.Add(time.Duration(n) * MinGap)
	}
	if c.tokens == WakeBurst {
		c.credited = now
	}
}

func (c *Changes) trailing() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.credit(c.now())
	c.fire()
}

// Notify returns a channel that receives after each change (several
// changes in a row may make one receive) until ctx ends, for a waiter
// that waits the whole time.
func (c *Changes) Notify(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	w := c.Watch()
	go func() {
		defer w.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.Next():
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}

// fire wakes the waiters of the current Next, spending a token when
// there is one (a trailing wake-up is due even without); c.mu is held.
func (c *Changes) fire() {
	c.tokens = max(0, c.tokens-1)
	c.fires++
	close(c.next)
	c.next = make(chan struct{})
}
