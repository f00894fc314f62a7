package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"golang.org/x/sys/unix"
)

// writeLock is how the writers of one database file wait for each other.
// SQLite makes a writer that finds the file's write lock taken sleep and
// try again: 1 ms, then 2, 5, 10... (its busy handler), however soon the
// lock is released. A job's hops are writes of three processes (the run,
// up, the task's supervisor) and of several goroutines of up, close
// together: each collision cost a hop a millisecond or more. So the writes
// of this package (Tx, Migrate, Exec, and Querier's writes outside a
// transaction) take this lock first, and find SQLite's free once they have
// it:
//
//   - in this process, a slot of the file's semaphore: the next writer
//     is woken as the slot is given back;
//   - across processes, an flock(2) on the file's -writer file (the
//     database's path with "-writer" added), waited for in the kernel,
//     which wakes the next writer when the holder commits, or dies.
//
// Both are bounded (LockWait): past it, the writer goes on without the
// lock, to SQLite's own waiting, as before. A writer of another kind (a
// statement run on the handle itself, another version of deployer, the
// sqlite3 shell) takes SQLite's lock only, and is waited for by SQLite's
// busy handler, as it waits for these: deployer's own writes all go through
// this package.
type writeLock struct {
	sem  chan struct{}
	path string // the -writer file
	// fd is the -writer file, opened at the first lock and kept while
	// handles use it (users), for the lock when nobody else holds it;
	// -1 until then. Only the holder of sem uses it.
	fd    int
	users int // guarded by writeLocksMu
}

// LockWait bounds how long a writer waits for the lock (either part)
// before going on without it.
const LockWait = 5 * time.Second

// lockWait is LockWait (tests shorten it).
var lockWait = LockWait

var (
	writeLocksMu sync.Mutex
	writeLocks   = map[string]*writeLock{} // by database path, for the process
	// handleLocks maps the handles OpenFile returned to their file's
	// lock, while they are in use.
	handleLocks sync.Map // weak.Pointer[sql.DB] -> *writeLock
)

// registerWriteLock has the writes through db take the lock of the
// database file at path. Once db is gone, so is its hold on the lock, and
// the lock with its descriptor once no handle holds it.
func registerWriteLock(db *sql.DB, path string) {
	writeLocksMu.Lock()
	l := writeLocks[path]
	if l == nil {
		l = &writeLock{sem: make(chan struct{}, 1), path: path + "-writer", fd: -1}
		writeLocks[path] = l
	}
	l.users++
	writeLocksMu.Unlock()
	key := weak.Make(db)
	handleLocks.Store(key, l)
	runtime.AddCleanup(db, func(k weak.Pointer[sql.DB]) {
		handleLocks.Delete(k)
		writeLocksMu.Lock()
		defer writeLocksMu.Unlock()
		if l.users--; l.users == 0 {
			delete(writeLocks, path)
			if l.fd >= 0 {
				_ = unix.Close(l.fd)
			}
		}
	}, key)
}

// lockWrites takes the write lock of db's file and returns what gives it
// back; with no lock (a handle not from OpenFile, or one not had within
// LockWait), a release that does nothing. It returns ctx's error if ctx
// ends first.
func lockWrites(ctx context.Context, db *sql.DB) (release func(), err error) {
	v, ok := handleLocks.Load(weak.Make(db))
	if !ok {
		return func() {}, nil
	}
	return v.(*writeLock).lock(ctx)
}

func (l *writeLock) lock(ctx context.Context) (release func(), err error) {
	// The bound, timed from the first wait: none when nothing waits.
	var t *time.Timer
	gaveUp := func() <-chan time.Time {
		if t == nil {
			t = time.NewTimer(lockWait)
		}
		return t.C
	}
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	select {
	case l.sem <- struct{}{}:
	default:
		select {
		case l.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-gaveUp():
			// A writer of this process holds it that long: go on, as
			// SQLite lets each wait its busy timeout.
			return func() {}, nil
		}
	}
	unlock, err := l.flock(ctx, gaveUp)
	if err != nil {
		<-l.sem
		return nil, err
	}
	return func() {
		unlock()
		<-l.sem
	}, nil
}

// flock takes the -writer file's lock, on the kept descriptor when no
// other process holds it, else waiting for it on a descriptor of its own
// until ctx ends or gaveUp's channel fires. With no file (a directory
// this process cannot write), the release does nothing. l.sem is held.
func (l *writeLock) flock(ctx context.Context, gaveUp func() <-chan time.Time) (release func(), err error) {
	none := func() {}
	open := func() (int, error) {
		return unix.Open(l.path, unix.O_RDONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
	}
	if l.fd < 0 {
		fd, err := open()
		if err != nil {
			return none, nil //nolint:nilerr // no file: SQLite's waiting alone
		}
		l.fd = fd
	}
	if err := unix.Flock(l.fd, unix.LOCK_EX|unix.LOCK_NB); err == nil {
		return func() { _ = unix.Flock(l.fd, unix.LOCK_UN) }, nil
	} else if !errors.Is(err, unix.EWOULDBLOCK) {
		return none, nil
	}
	// Held by another process: wait in the kernel, on a thread of its
	// own, with a descriptor of the wait's own. Whichever of the two
	// decides first (the waiter taking the lock, this call giving up)
	// decides who closes the descriptor; a lock taken after this call
	// gave up is dropped at once.
	fd, err := open()
	if err != nil {
		return none, nil //nolint:nilerr // no file: SQLite's waiting alone
	}
	closeFD := func() { _ = unix.Close(fd) }
	var decided atomic.Bool
	got := make(chan error, 1)
	go func() {
		err := flockWait(fd)
		if decided.CompareAndSwap(false, true) {
			if err != nil {
				closeFD()
			}
			got <- err
			return
		}
		closeFD()
	}()
	select {
	case err := <-got:
		if err != nil {
			return none, nil //nolint:nilerr // no lock: SQLite's waiting alone
		}
		return closeFD, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-gaveUp():
	}
	if decided.CompareAndSwap(false, true) {
		return none, err
	}
	// The lock came as this call gave up: take it.
	if werr := <-got; werr != nil || err != nil {
		if werr == nil {
			closeFD()
		}
		return none, err
	}
	return closeFD, nil
}

// flockWait takes the lock on fd, waiting as long as it takes; a signal
// (the Go runtime's preemption) interrupts the wait, which goes on.
func flockWait(fd int) error {
	for {
		err := unix.Flock(fd, unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
