package local

import (
	"slices"
	"sync"
	"time"

	"github.com/deployerhq/deployer/schemas"
)

// SetAppendPatience sets how long a supervisor keeps trying to store
// output (appendPatience).
func SetAppendPatience(d time.Duration) { appendPatience = d }

// SetTasksPerSupervisor sets how many tasks a supervisor taken back runs
// at most (tasksPerSupervisor).
func SetTasksPerSupervisor(n int) { tasksPerSupervisor = n }

// WaitSupervisors waits until every supervisor r spawned has exited and
// been reaped.
func WaitSupervisors(r *Runner) { r.live.Wait() }

// Alive reports whether pid is a live (not zombie) process.
func Alive(pid int) bool { return ours(pid, "") }

// SinkLines feeds recs to a record sink of job's attempt 1, as the task
// entrypoint's code does, and returns the whole lines it gave the pump
// and the first error.
func SinkLines(job string, recs []schemas.TaskRecord) ([]schemas.LogLine, error) {
	k := newRecordSink(job, 1)
	var first error
	go func() {
		defer k.close()
		for _, r := range recs {
			if err := k.WriteRecord(r); err != nil {
				return
			}
		}
	}()
	var lines []schemas.LogLine
	for it := range k.items {
		switch {
		case it.err != nil && first == nil:
			first = it.err
		default:
			lines = append(lines, it.lines...)
		}
	}
	return lines, first
}

// PumpBatches queues chunks of lines for a supervisor's pump, each
// handed as the script paused after it, then starts the pump, and returns
// the batches it stored.
func PumpBatches(chunks [][]schemas.LogLine) [][]schemas.LogLine {
	items := make(chan logItem, len(chunks))
	for _, c := range chunks {
		items <- logItem{lines: c, flush: true}
	}
	close(items)
	var batches [][]schemas.LogLine
	(&supervisor{}).pump(items, func(b []schemas.LogLine) { batches = append(batches, slices.Clone(b)) })
	return batches
}

// KeepSpares starts keeping a spare supervisor, as KeepSpare does, and
// returns what stops it (waiting for the spare left to exit).
func KeepSpares(r *Runner) (stop func()) {
	r.startSpares()
	return r.stopSpares
}

// StopSpares stops keeping spare supervisors, as the function KeepSpares
// returned does, waiting for the spare left to exit; again, it does
// nothing.
func StopSpares(r *Runner) { r.stopSpares() }

// HoldSpareStarts replaces r's waits before a spare's start (call it
// before r starts keeping spares): each wait's length is sent on asked
// (16 unread ones block the runner: read each), and none ends until
// release is called.
func HoldSpareStarts(r *Runner) (asked <-chan time.Duration, release func()) {
	ch, gate := make(chan time.Duration, 16), make(chan time.Time)
	r.after = func(d time.Duration) <-chan time.Time {
		ch <- d
		return gate
	}
	return ch, sync.OnceFunc(func() { close(gate) })
}

// SparePIDs returns the pid of the spare supervisor ready, if any.
func SparePIDs(r *Runner) []int {
	r.spareMu.Lock()
	defer r.spareMu.Unlock()
	if r.spare == nil {
		return nil
	}
	return []int{r.spare.pid}
}

// AwaitSpare waits until a spare supervisor other than pid other is
// ready, and returns its pid; 0 after timeout.
func AwaitSpare(r *Runner, other int, timeout time.Duration) int {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.spareMu.Lock()
		p, changed := r.spare, r.spareChanged
		if changed == nil {
			changed = make(chan struct{})
			r.spareChanged = changed
		}
		r.spareMu.Unlock()
		if p != nil && p.pid != other {
			return p.pid
		}
		select {
		case <-changed:
		case <-deadline.C:
			return 0
		}
	}
}

// AwaitRefillWaits waits until n refills of spares wait (see
// refillAfter) and reports whether they came to that before timeout.
func AwaitRefillWaits(r *Runner, n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.refillMu.Lock()
		waits := r.refillWaits
		if r.refillsChanged == nil {
			r.refillsChanged = make(chan struct{})
		}
		changed := r.refillsChanged
		r.refillMu.Unlock()
		if waits == n {
			return true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return false
		}
	}
}

// Readable is readable: whether a spare's stdin has its task id (or its
// end) to read already.
var Readable = readable

// SpareDirName is the name of the work directory the spare supervisor
// pid makes ahead of its task (under the state directory's work/).
func SpareDirName(pid int) string { return spareDirName(pid, procToken(pid)) }

// ParseSpareDirName is parseSpareDirName.
func ParseSpareDirName(name string) (int, string, bool) { return parseSpareDirName(name) }
