package sqlitedb

// Kept is the number of statements s keeps, once the preparations under
// way in the background are done.
func Kept(s *Stmts) int {
	s.bg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
