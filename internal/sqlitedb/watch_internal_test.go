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
