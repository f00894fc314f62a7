package sqlitedb

// Kept is the number of statements s keeps.
func Kept(s *Stmts) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
