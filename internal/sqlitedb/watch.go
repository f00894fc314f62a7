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
// write to every process watching the directory (inotify on Linux). The
// waiters wake when such a commit has become visible, whoever made it:
// the WAL-index header says when (see walIndex and changed). Reads write
// nothing there, so looking never wakes anyone.
//
// A wake-up says only "look": waiters keep their polls, which are what
// they fall back on where the platform reports no file writes (kqueue
// reports a directory's entries, not writes to its files) or when the
// watch could not be set up.
//
// The file is watched while someone waits (between Watch and
// Watcher.Close), so that a process with no waiter holds no watch; the
// -shm file, once read, stays open (see walIndex).
type Changes struct {
	path, wal string

	mu    sync.Mutex
	next  chan struct{} // closed at the next change, then replaced
	users int
	stop  func() // ends the watch; nil while nobody watches
	// index says when a commit is visible, from the first watch on: kept
	// for the process's life, never closed (see walIndex); nil where the
	// -shm file cannot be read (see changed).
	index *walIndex
	// tokens is how many wake-ups may come at once (at most WakeBurst),
	// one more every MinGap since credited.
	tokens   int
	credited time.Time
	// owed is set while a write's token awaits its commit; look is the
	// next look at the index for it, settle how many so far (see
	// Settle). trail is the wake-up after the last write.
	owed     bool
	look     *time.Timer
	settle   int
	trail    *time.Timer
	fires    int              // wake-ups so far
	now      func() time.Time // the clock (tests set their own)
	trailIn  time.Duration    // MinGap (tests put it off)
	settleIn time.Duration    // FirstSettle (tests put it off)
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
	c := &Changes{path: path, next: make(chan struct{}), tokens: WakeBurst, now: time.Now, trailIn: MinGap, settleIn: FirstSettle}
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
		switch {
		case c.stop == nil:
		case c.index == nil:
			c.index = openWALIndex(c.path)
		default:
			c.index.retake()
		}
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

// FirstSettle and Settle are when the index is looked at again after a
// write that spent a token before its commit was visible: FirstSettle
// after it, then twice as long after each look, Settle looks in all (~50
// ms). A commit's last write comes a few microseconds before its header;
// a writer the scheduler stops between the two is waited for, less and
// less often, and past that the waiters' polls find what it commits. (A
// Go process with nothing else to run sleeps in its poller with a
// millisecond timeout: the first looks come ~1 ms after the write there.)
const (
	FirstSettle = 100 * time.Microsecond
	Settle      = 9
)

// changed is called by the watch for writes to the database's files.
// A commit becomes visible only after its last write, when the WAL
// index's header is updated in shared memory, which nobody is told of;
// the kernel may merge the commit's writes into the first one's event
// when nobody read between them. A waiter woken at a write would look
// before the commit is there, then wait for the next wake-up.
//
// So the wake-up a write earns (a token, as MinGap and WakeBurst pace
// them) comes when the index says a commit not yet woken for is visible:
// at once, or at a look after it (see Settle). Whatever a write earns
// or not, the waiters are woken once more trailIn after the last write
// if a commit has become visible since their last wake-up. Where the
// index cannot be read, a write with a token wakes them at once, and the
// one trailIn after the last write always does.
func (c *Changes) changed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wrote()
}

// wrote is changed with c.mu held.
func (c *Changes) wrote() {
	c.credit(c.now())
	if c.tokens > 0 {
		c.tokens--
		c.owed = true
		c.settle = 0
		c.settled()
	}
	arm(&c.trail, c.trailIn, c.trailing)
}

// settled pays the wake-up owed when its commit is visible, else arms
// the next look; c.mu is held.
func (c *Changes) settled() {
	switch {
	case !c.owed:
	case c.index == nil || c.index.committed():
		c.owed = false
		c.fire()
	case c.settle < Settle:
		arm(&c.look, c.settleIn<<c.settle, c.settling)
		c.settle++
	default:
		// The last look: a -shm made anew (an SQLite that does not keep
		// it removed it) is read from now on, and wakes them.
		c.owed = false
		if c.index.replaced() {
			c.fire()
		}
	}
}

// settling is the look timer's.
func (c *Changes) settling() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.settled()
}

// arm has *t call fn d from now, making it the first time; c.mu is held.
func arm(t **time.Timer, d time.Duration, fn func()) {
	if *t == nil {
		*t = time.AfterFunc(d, fn)
	} else {
		(*t).Reset(d)
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

// trailing is the trail timer's: the wake-up trailIn after the last
// write, when a commit has become visible since the last (always, with no
// index); it spends a token when there is one.
func (c *Changes) trailing() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.credit(c.now())
	if c.index == nil || c.index.committed() {
		c.tokens = max(0, c.tokens-1)
		c.fire()
	}
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

// fire wakes the waiters of the current Next; c.mu is held.
func (c *Changes) fire() {
	c.fires++
	close(c.next)
	c.next = make(chan struct{})
}
