package sqlitedb

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestAWakeUpIsFollowedByOneAfterTheCommit: where the WAL index cannot be
// read (no -shm file here), the first write of a commit wakes the waiters
// at once, perhaps before the commit is visible, and they are woken once
// more, MinGap later, with no further write (the kernel may have merged
// the commit's writes into that one event).
func TestAWakeUpIsFollowedByOneAfterTheCommit(t *testing.T) {
	c := changesOf(t.TempDir() + "/none.db")
	w := c.Watch()
	defer w.Close()
	first := w.Next()
	c.mu.Lock()
	before := c.fires
	c.mu.Unlock()
	c.changed()
	select {
	case <-first:
	default:
		t.Fatal("a write woke nobody at once")
	}
	waitFires(t, c, before+2)
}

// waitFires waits until c has fired n times in all.
func waitFires(t *testing.T, c *Changes, n int) {
	t.Helper()
	for {
		// The count and the channel its next wake-up closes, together.
		c.mu.Lock()
		fires, next := c.fires, c.next
		c.mu.Unlock()
		if fires >= n {
			return
		}
		select {
		case <-next:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d wake-ups, want %d", fires, n)
		}
	}
}

// TestABurstOfWritesWakesAtOnceThenPaced: a chain of WakeBurst writes
// (a job crossing processes) wakes the waiters at each write; more
// writes within MinGap wake nobody at once, until MinGap has passed.
// Without a WAL index, as TestABurstOfCommitsWakesAtOnceThenPaced with
// one.
func TestABurstOfWritesWakesAtOnceThenPaced(t *testing.T) {
	c := changesOf(t.TempDir() + "/none.db")
	// The clock, read under c.mu; the trailing wake-ups (real timers,
	// which spend tokens too) put off past the test.
	clock := time.Now()
	c.mu.Lock()
	c.now = func() time.Time { return clock }
	c.trailIn = time.Hour
	c.mu.Unlock()
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.trail != nil {
			c.trail.Stop()
		}
	})
	write := func() (woke bool) {
		c.mu.Lock()
		defer c.mu.Unlock()
		before := c.fires
		c.wrote()
		return c.fires > before
	}
	advance := func(d time.Duration) {
		c.mu.Lock()
		clock = clock.Add(d)
		c.mu.Unlock()
	}
	for i := range WakeBurst {
		if !write() {
			t.Fatalf("write %d of a burst of %d woke nobody at once", i+1, WakeBurst)
		}
		advance(MinGap / (2 * WakeBurst)) // the whole burst within MinGap
	}
	if write() {
		t.Fatalf("write %d within %s woke the waiters at once", WakeBurst+1, MinGap)
	}
	advance(MinGap)
	if !write() {
		t.Fatalf("a write %s later woke nobody at once", MinGap)
	}
	if write() {
		t.Fatal("a second write right after it woke the waiters at once")
	}
}

// fakeIndex is a database path whose -shm file the test writes itself:
// headers as a commit leaves them (two equal copies) or while it writes
// them (the second copy first).
type fakeIndex struct {
	t    *testing.T
	path string
	n    byte // the commit the header says
}

func newFakeIndex(t *testing.T) *fakeIndex {
	f := &fakeIndex{t: t, path: filepath.Join(t.TempDir(), "x.db")}
	f.commit()
	return f
}

// header is a header of commit n: isInit set, mxFrame n.
func header(n byte) []byte {
	h := make([]byte, walHeaderSize)
	h[12] = 1
	binary.NativeEndian.PutUint32(h[16:], uint32(n))
	return h
}

func (f *fakeIndex) write(first, second []byte) {
	f.t.Helper()
	b := append(append(slices.Clone(first), second...), make([]byte, 32)...) // and the checkpoint info after
	if err := os.WriteFile(f.path+"-shm", b, 0o600); err != nil {
		f.t.Fatal(err)
	}
}

// commit writes the next commit's header, whole.
func (f *fakeIndex) commit() {
	f.n++
	f.write(header(f.n), header(f.n))
}

// torn writes the next commit's header half-way: the second copy only.
func (f *fakeIndex) torn() { f.write(header(f.n), header(f.n+1)) }

// fires returns how many times c has fired.
func fires(c *Changes) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fires
}

// TestAWriteWakesOnceItsCommitIsVisible: with the WAL index readable, a
// write wakes nobody while its commit is not visible (the header as it
// was, half written, or that of a WAL restarted); a commit visible at the write wakes the waiters
// at once, and one that becomes visible after its last write is found by
// the looks that follow, with no further write.
func TestAWriteWakesOnceItsCommitIsVisible(t *testing.T) {
	f := newFakeIndex(t)
	c := changesOf(f.path)
	w := c.Watch()
	defer w.Close()
	if c.index == nil {
		t.Fatal("the -shm file was not read")
	}
	before := fires(c)
	c.changed()
	if n := fires(c); n != before {
		t.Fatalf("a write with no new commit woke the waiters (%d wake-ups)", n-before)
	}
	f.torn()
	c.changed()
	if n := fires(c); n != before {
		t.Fatalf("a write while the header is half written woke the waiters (%d wake-ups)", n-before)
	}
	f.write(header(0), header(0)) // a writer restarting the WAL: no frames yet
	c.changed()
	if n := fires(c); n != before {
		t.Fatalf("the header of a WAL restarted woke the waiters (%d wake-ups)", n-before)
	}
	f.commit()
	waitFires(t, c, before+1) // no write: a look after the last one finds it

	next := w.Next()
	f.commit()
	c.changed()
	select {
	case <-next:
	default:
		t.Fatal("a write after its commit was visible woke nobody at once")
	}
}

// TestABurstOfCommitsWakesAtOnceThenPaced is TestABurstOfWritesWakesAtOnceThenPaced
// with the WAL index read: tokens pace the wake-ups of visible commits,
// and one made while none is left wakes the waiters trailIn after the
// last write.
func TestABurstOfCommitsWakesAtOnceThenPaced(t *testing.T) {
	f := newFakeIndex(t)
	c := changesOf(f.path)
	w := c.Watch()
	defer w.Close()
	// The clock, read under c.mu; the timers (real ones, which take
	// commits and spend tokens too) put off past the test, which calls
	// the trailing wake-up itself.
	clock := time.Now()
	c.mu.Lock()
	c.now = func() time.Time { return clock }
	c.settleIn, c.trailIn = time.Hour, time.Hour
	c.mu.Unlock()
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.trail.Stop()
	})
	commit := func() (woke bool) {
		f.commit()
		c.mu.Lock()
		defer c.mu.Unlock()
		before := c.fires
		c.wrote()
		return c.fires > before
	}
	for i := range WakeBurst {
		if !commit() {
			t.Fatalf("commit %d of a burst of %d woke nobody at once", i+1, WakeBurst)
		}
		c.mu.Lock()
		clock = clock.Add(MinGap / (2 * WakeBurst))
		c.mu.Unlock()
	}
	before := fires(c)
	if commit() {
		t.Fatalf("commit %d within %s woke the waiters at once", WakeBurst+1, MinGap)
	}
	c.trailing()
	if n := fires(c); n != before+1 {
		t.Fatalf("the trailing wake-up after a paced commit: %d wake-ups, want 1", n-before)
	}
	c.trailing()
	if n := fires(c); n != before+1 {
		t.Fatal("a trailing wake-up with no commit since the last woke the waiters")
	}
	c.mu.Lock()
	clock = clock.Add(MinGap)
	c.mu.Unlock()
	if !commit() {
		t.Fatalf("a commit %s later woke nobody at once", MinGap)
	}
}

// TestAReplacedIndexIsRead: a -shm file removed and made anew (by an
// SQLite that does not keep it) is read from then on.
func TestAReplacedIndexIsRead(t *testing.T) {
	f := newFakeIndex(t)
	c := changesOf(f.path)
	w := c.Watch()
	defer w.Close()
	if err := os.Remove(f.path + "-shm"); err != nil {
		t.Fatal(err)
	}
	f.commit()
	before := fires(c)
	c.changed()
	waitFires(t, c, before+1) // the last look after the write finds the new file
	f.commit()
	c.changed()
	if n := fires(c); n != before+2 {
		t.Fatalf("a commit in the new -shm file: %d wake-ups, want 1 at once", n-before-1)
	}
}
