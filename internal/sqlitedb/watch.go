package sqlitedb

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Changes tells the waiters of one process that some process changed a
// database, so that they look at once rather than at their next poll. A
// commit in WAL mode writes the -wal file, and the kernel reports that
// write to every process watching the directory (inotify on Linux): one
// wake-up per commit, whoever made it. Reads write nothing there, so
// looking never wakes anyone.
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
	w     *fsnotify.Watcher
	done  chan struct{} // closed when the watch's goroutine returns
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
		return &Changes{next: make(chan struct{})}
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
	c := &Changes{path: path, wal: path + "-wal", next: make(chan struct{})}
	changes[path] = c
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
	if c.w == nil && c.path != "" {
		c.start()
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
	return w.c.w != nil
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
		var (
			fw   *fsnotify.Watcher
			done chan struct{}
		)
		if c.users == 0 && c.w != nil {
			fw, done, c.w, c.done = c.w, c.done, nil, nil
		}
		c.mu.Unlock()
		if fw != nil {
			_ = fw.Close()
			<-done
		}
	})
}

// start watches the file's directory; c.mu is held. A watch that cannot
// be set up leaves c.w nil: the next Watch tries again.
func (c *Changes) start() {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return
	}
	if err := fw.Add(filepath.Dir(c.path)); err != nil {
		_ = fw.Close()
		return
	}
	c.w, c.done = fw, make(chan struct{})
	go c.run(fw, c.done)
}

// MinGap is the least time between two wake-ups: a burst of commits (a
// task writing lines as fast as it can) wakes the waiters once per gap,
// not once per commit, and the last commit of a burst always wakes them.
const MinGap = 2 * time.Millisecond

func (c *Changes) run(fw *fsnotify.Watcher, done chan struct{}) {
	defer close(done)
	events, errs := fw.Events, fw.Errors
	var (
		last    time.Time
		trail   = time.NewTimer(time.Hour)
		pending bool
	)
	trail.Stop()
	defer trail.Stop()
	wake := func() {
		if since := time.Since(last); since < MinGap {
			if !pending {
				pending = true
				trail.Reset(MinGap - since)
			}
			return
		}
		last = time.Now()
		c.fire()
	}
	for events != nil || errs != nil {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if (ev.Name == c.wal || ev.Name == c.path) && ev.Op&(fsnotify.Write|fsnotify.Create) != 0 {
				wake()
			}
		case _, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// The kernel's queue overflowed and dropped events:
			// everyone looks, and finds what is new.
			wake()
		case <-trail.C:
			pending = false
			last = time.Now()
			c.fire()
		}
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

// fire wakes the waiters of the current Next.
func (c *Changes) fire() {
	c.mu.Lock()
	close(c.next)
	c.next = make(chan struct{})
	c.mu.Unlock()
}
