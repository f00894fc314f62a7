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
	for name, overdue := range map[string]bool{"nothing pending": false, "a trailing wake-up overdue": true} {
		t.Run(name, func(t *testing.T) { testWakeUpFollowed(t, overdue) })
	}
}

// testWakeUpFollowed writes once and waits for two wake-ups; overdue:
// with a trailing wake-up pending that has not run yet (its timer's
// callback late), which may run before the new commit is visible.
func testWakeUpFollowed(t *testing.T, overdue bool) {
	c := changesOf(t.TempDir() + "/none.db")
	w := c.Watch()
	defer w.Close()
	first := w.Next()
	c.mu.Lock()
	before := c.fires
	if overdue {
		c.pending = true // and no timer: it never comes
	}
	c.mu.Unlock()
	c.changed()
	select {
	case <-first:
	default:
		t.Fatal("a write woke nobody at once")
	}
	for {
		// The count and the channel its next wake-up closes, together.
		c.mu.Lock()
		fires, next := c.fires, c.next
		c.mu.Unlock()
		if fires >= before+2 {
			return
		}
		select {
		case <-next:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d wake-ups after one write, want a second", fires-before)
		}
	}
}
