package ui

import (
	"context"
	"fmt"
	"sync"

	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// fake is a Source in memory; tests change it under its lock.
type fake struct {
	mu        sync.Mutex
	hist      map[string][]schemas.JobEvent
	logs      map[string][]schemas.LogLine
	batches   []producer.Batch
	lanes     []Lane
	letters   []DeadLetter
	dry       map[string]ReplayResult
	schedules []Schedule

	// What the actions did.
	replayed []string
	cancels  []string
	paused   map[string]bool
}

func newFake() *fake {
	return &fake{hist: map[string][]schemas.JobEvent{}, logs: map[string][]schemas.LogLine{},
		dry: map[string]ReplayResult{}, paused: map[string]bool{}}
}

var _ Source = (*fake)(nil)

func (f *fake) Where() string { return "the fake backend" }

func (f *fake) Jobs(_ context.Context, flt producer.JobFilter) ([]producer.JobSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []producer.JobSummary
	for id, h := range f.hist {
		s := producer.Summarize(h)
		s.JobID = id
		if flt.Match(s) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (f *fake) History(_ context.Context, id string) ([]schemas.JobEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.hist[id]
	if !ok {
		return nil, fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	return append([]schemas.JobEvent(nil), h...), nil
}

func (f *fake) TaskLog(_ context.Context, task string, after int64, limit int) ([]schemas.LogLine, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []schemas.LogLine
	for _, l := range f.logs[task] {
		if l.Seq > after && len(out) < limit {
			out = append(out, l)
		}
	}
	return out, nil
}

func (f *fake) Batches(context.Context, int) ([]producer.Batch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.batches, nil
}

func (f *fake) Batch(_ context.Context, id string) (producer.Batch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.batches {
		if b.ID == id {
			return b, nil
		}
	}
	return producer.Batch{}, ErrNotFound
}

func (f *fake) Lanes(context.Context) ([]Lane, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lanes, nil
}

func (f *fake) DeadLetters(context.Context) ([]DeadLetter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.letters, nil
}

func (f *fake) DryRun(_ context.Context, id string) (ReplayResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.dry[id]; ok {
		return r, nil
	}
	return ReplayResult{JobID: id, Verdict: VerdictNotFound, Reason: "no dead letter"}, nil
}

func (f *fake) Replay(_ context.Context, id string) (ReplayResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.dry[id]
	if !ok {
		return ReplayResult{JobID: id, Verdict: VerdictNotFound, Reason: "no dead letter"}, nil
	}
	f.replayed = append(f.replayed, id)
	if r.Verdict == VerdictWouldReplay {
		r.Verdict, r.State = VerdictReplayed, producer.StateQueued
	}
	return r, nil
}

func (f *fake) Cancel(_ context.Context, id, reason string) (producer.CancelAnswer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancels = append(f.cancels, id+": "+reason)
	return producer.CancelAnswer{Accepted: true}, nil
}

func (f *fake) Schedules(context.Context) ([]Schedule, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.schedules, nil
}

func (f *fake) SetPaused(_ context.Context, name string, paused bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.schedules {
		if s.Name == name {
			f.paused[name] = paused
			return nil
		}
	}
	return fmt.Errorf("%w: no schedule %q", ErrNotFound, name)
}

// addLines appends lines to a task's log, numbered on from its last.
func (f *fake) addLines(task string, texts ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range texts {
		f.logs[task] = append(f.logs[task], schemas.LogLine{Seq: int64(len(f.logs[task]) + 1), Text: t})
	}
}

// addEvents appends events to a job's history.
func (f *fake) addEvents(id string, evs ...schemas.JobEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ev := range evs {
		ev.JobID = id
		if ev.Attempt == 0 {
			ev.Attempt = 1
		}
		f.hist[id] = append(f.hist[id], ev)
	}
}
