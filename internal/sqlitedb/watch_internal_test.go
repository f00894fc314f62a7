package sqlitedb

import (
	"testing"
	"time"
)

// TestAWakeUpIsFollowedByOneAfterTheCommit: the first write of a commit
// wakes the waiters at once, perhaps before the commit is visible, and
// they are woken once more, MinGap later, with no further write (the
// kernel may have merged the commit's writes into that one event).
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
