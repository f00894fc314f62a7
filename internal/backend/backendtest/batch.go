package backendtest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// batchJob is one job of a batch the suite submits.
type batchJob struct {
	container, script string
	args              []string
}

// submitBatch submits jobs as one batch and returns them in order.
func (s *suite) submitBatch(t *testing.T, maxInFlight int, failFast bool, jobs ...batchJob) (string, []producer.Job) {
	t.Helper()
	id := producer.NewBatchID()
	out := make([]producer.Job, 0, len(jobs))
	for i, j := range jobs {
		job, err := s.client().Submit(ctx(t), producer.Request{
			Container: j.container, Script: j.script, Args: j.args,
			BatchID: id,
			Batch:   &schemas.BatchSpec{Name: "suite", Size: len(jobs), Index: i + 1, MaxInFlight: maxInFlight, FailFast: failFast},
		})
		if err != nil {
			t.Fatalf("submitting job %d of batch %s: %v", i+1, id, err)
		}
		out = append(out, job)
	}
	return id, out
}

// ended waits for the job's terminal event in its journal.
func (s *suite) ended(t *testing.T, jobID string) (schemas.JobEvent, []schemas.JobEvent) {
	t.Helper()
	h := s.history(t, jobID, func(h []schemas.JobEvent) bool { _, ok := producer.Terminal(h); return ok })
	end, _ := producer.Terminal(h)
	return end, h
}

// mostAtOnce is the most jobs of histories that were started and not
// ended at any one time, from their journaled events.
func mostAtOnce(histories [][]schemas.JobEvent) int {
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, h := range histories {
		if !has(h, schemas.EventStarted) {
			continue
		}
		for _, ev := range h {
			switch {
			case ev.Type == schemas.EventStarted:
				edges = append(edges, edge{ev.Time, +1})
			case ev.Type.Terminal():
				edges = append(edges, edge{ev.Time, -1})
			}
		}
	}
	slices.SortStableFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta // an end before a start at the same instant
	})
	running, most := 0, 0
	for _, e := range edges {
		running += e.delta
		most = max(most, running)
	}
	return most
}

// batchMaxInFlight: a batch's max_in_flight bounds its running jobs below
// their lane's limit, and the jobs it holds back all run in the end (none
// is received again and again into the dead-letter queue).
func (s *suite) batchMaxInFlight(t *testing.T) {
	const n, limit = 5, 2
	dir := t.TempDir()
	gate := func(i int) string { return filepath.Join(dir, fmt.Sprint(i)) }
	var jobs []batchJob
	for i := range n {
		jobs = append(jobs, batchJob{"infra", "await", []string{gate(i)}})
	}
	_, submitted := s.submitBatch(t, limit, false, jobs...)
	// Let the jobs end as they start, one at a time: each end makes room
	// for the next.
	released := map[string]bool{}
	for range n {
		var next int
		s.eventually(t, func() bool {
			for i, j := range submitted {
				if released[j.ID] {
					continue
				}
				if h, err := s.client().Status(ctx(t), j.ID); err == nil && has(h, schemas.EventStarted) {
					next = i
					return true
				}
			}
			return false
		})
		released[submitted[next].ID] = true
		if err := os.WriteFile(gate(next), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var histories [][]schemas.JobEvent
	for _, j := range submitted {
		end, h := s.ended(t, j.ID)
		if end.Outcome != schemas.OutcomeSucceeded {
			t.Errorf("job %s: terminal %+v, want succeeded", j.ID, end)
		}
		histories = append(histories, h)
	}
	if most := mostAtOnce(histories); most > limit {
		t.Errorf("%d jobs of a batch with max_in_flight %d ran at once", most, limit)
	}
}

// batchFailFastWaiting: with fail_fast, the first failure of a batch ends
// the jobs that wait for room (max_in_flight 1) as cancelled; their tasks
// never start.
func (s *suite) batchFailFastWaiting(t *testing.T) {
	fail := batchJob{"infra", "fail", nil}
	_, submitted := s.submitBatch(t, 1, true, fail, fail, fail)
	var failed, cancelled int
	for _, j := range submitted {
		end, h := s.ended(t, j.ID)
		switch {
		case end.Outcome == schemas.OutcomeFailed && producer.ExitCode(end) == 3:
			failed++
		case end.Outcome == schemas.OutcomeCancelled && !has(h, schemas.EventStarted) && strings.Contains(end.Reason, "fail_fast"):
			cancelled++
		default:
			t.Errorf("job %s: terminal %+v after %v", j.ID, end, types(h))
		}
	}
	if failed != 1 || cancelled != 2 {
		t.Errorf("%d failed and %d cancelled without starting; want 1 and 2", failed, cancelled)
	}
}

// batchFailFastRunning: with fail_fast, the first failure of a batch stops
// its running jobs, which end cancelled.
func (s *suite) batchFailFastRunning(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "go")
	_, submitted := s.submitBatch(t, 0, true,
		batchJob{"infra", "until", []string{gate}}, batchJob{"infra", "sleep", nil}, batchJob{"infra", "sleep", nil})
	for _, j := range submitted {
		s.history(t, j.ID, func(h []schemas.JobEvent) bool { return has(h, schemas.EventStarted) })
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if end, h := s.ended(t, submitted[0].ID); producer.ExitCode(end) != 5 {
		t.Errorf("the failing job: terminal %+v after %v, want exit 5", end, types(h))
	}
	for _, j := range submitted[1:] {
		if end, h := s.ended(t, j.ID); end.Outcome != schemas.OutcomeCancelled || !strings.Contains(end.Reason, "fail_fast") {
			t.Errorf("job %s: terminal %+v after %v, want cancelled by fail_fast", j.ID, end, types(h))
		}
	}
}
