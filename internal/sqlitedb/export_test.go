package sqlitedb

import "time"

// Kept is the number of statements s keeps.
func Kept(s *Stmts) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// SetLockWait sets how long a writer waits for the write lock, until the
// test ends.
func SetLockWait(t interface{ Cleanup(func()) }, d time.Duration) {
	old := lockWait
	lockWait = d
	t.Cleanup(func() { lockWait = old })
}
