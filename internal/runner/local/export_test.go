package local

// WaitSupervisors waits until every supervisor r spawned has exited and
// been reaped.
func WaitSupervisors(r *Runner) { r.live.Wait() }

// Alive reports whether pid is a live (not zombie) process.
func Alive(pid int) bool { return ours(pid, "") }

// ReadRecords is readRecords.
var ReadRecords = readRecords
