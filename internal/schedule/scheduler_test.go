package schedule

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// clock is a fake clock the test advances.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// fakeJobs records what schedulers send; a job's state is set by the test.
type fakeJobs struct {
	mu        sync.Mutex
	submitted []producer.Request
	senders   []string
	cancelled []string
	states    map[string]producer.JobState
}

func newFakeJobs() *fakeJobs { return &fakeJobs{states: map[string]producer.JobState{}} }

func (f *fakeJobs) Submit(_ context.Context, schedule string, r producer.Request) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.submitted = append(f.submitted, r)
	f.senders = append(f.senders, schedule)
	f.states[r.JobID] = producer.StateQueued
	return nil
}

func (f *fakeJobs) Cancel(_ context.Context, _, jobID, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancelled = append(f.cancelled, jobID)
	f.states[jobID] = producer.StateCancelled
	return nil
}

func (f *fakeJobs) Job(_ context.Context, jobID string) (producer.JobSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.states[jobID]
	if !ok {
		return producer.JobSummary{}, fmt.Errorf("job %s: %w", jobID, journal.ErrNotFound)
	}
	return producer.JobSummary{JobID: jobID, State: st}, nil
}

func (f *fakeJobs) end(jobID string, st producer.JobState) {
	f.mu.Lock()
	f.states[jobID] = st
	f.mu.Unlock()
}

func (f *fakeJobs) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.submitted) }

func (f *fakeJobs) last() producer.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.submitted[len(f.submitted)-1]
}

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sqlitedb.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func newScheduler(t *testing.T, db *sql.DB, c *clock, jobs Jobs, scheds map[string]schemas.Schedule) *Scheduler {
	t.Helper()
	s, err := New(context.Background(), db, scheds, jobs, Options{Now: c.Now, Holder: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tick(t *testing.T, s *Scheduler) {
	t.Helper()
	if err := s.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
}

var t0 = time.Date(2025, 6, 10, 12, 0, 30, 0, time.UTC)

func every(overlap string, pause int) map[string]schemas.Schedule {
	return map[string]schemas.Schedule{"s": {Cron: "* * * * *", Container: "c", Script: "x", Args: []string{"--a", "b"},
		Overlap: overlap, PauseAfterFailures: pause}}
}

func TestFiresOncePerDueTimeWithRequest(t *testing.T) {
	c := &clock{t: t0}
	jobs := newFakeJobs()
	s := newScheduler(t, openDB(t), c, jobs, every(schemas.OverlapAllow, 0))
	tick(t, s) // first seen at 12:00:30: 12:00 is before it, nothing runs
	if jobs.count() != 0 {
		t.Fatalf("fired %d jobs for a due time before the schedule was first seen", jobs.count())
	}
	c.Add(40 * time.Second) // 12:01:10
	tick(t, s)
	tick(t, s)
	if jobs.count() != 1 {
		t.Fatalf("fired %d jobs for one due time", jobs.count())
	}
	r := jobs.last()
	if r.Container != "c" || r.Script != "x" || len(r.Args) != 2 || !schemas.ValidJobID(r.JobID) ||
		r.Caller.Schedule != "s" || !r.Caller.ScheduledAt.Equal(time.Date(2025, 6, 10, 12, 1, 0, 0, time.UTC)) ||
		r.Caller.User != "schedule:s" || jobs.senders[0] != "s" {
		t.Errorf("request = %+v, sent as %q", r, jobs.senders[0])
	}
	st, err := s.Store().State(context.Background(), "s")
	if err != nil || st.Last == nil || st.Last.JobID != r.JobID || st.Last.Status != StatusSubmitted {
		t.Errorf("state = %+v, %v", st, err)
	}
}

func TestMissedRunsRunTheLatestOnce(t *testing.T) {
	c := &clock{t: t0}
	jobs := newFakeJobs()
	db := openDB(t)
	s := newScheduler(t, db, c, jobs, every(schemas.OverlapAllow, 0))
	tick(t, s)
	c.Add(2*time.Hour + 15*time.Second) // nobody served for two hours: 120 due times missed
	tick(t, s)
	tick(t, s)
	if jobs.count() != 1 {
		t.Fatalf("fired %d jobs after a gap, want 1 (the latest missed)", jobs.count())
	}
	if got, want := jobs.last().Caller.ScheduledAt, time.Date(2025, 6, 10, 14, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("fired for %s, want the latest missed due time %s", got, want)
	}
	// A new scheduler (another "up", after a restart) does not fire it again.
	s2 := newScheduler(t, db, c, jobs, every(schemas.OverlapAllow, 0))
	tick(t, s2)
	if jobs.count() != 1 {
		t.Fatalf("a second scheduler fired the due time again")
	}
}

func TestClaimOnceAcrossSchedulers(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: t0}
	jobs := newFakeJobs()
	const n = 4
	var ss []*Scheduler
	for i := range n {
		db, err := sqlitedb.Open(dir) // one connection pool per scheduler, like separate processes
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		s, err := New(context.Background(), db, every(schemas.OverlapAllow, 0), jobs, Options{Now: c.Now, Holder: fmt.Sprint("s", i)})
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
	}
	tick(t, ss[0])
	for due := 1; due <= 5; due++ {
		c.Add(time.Minute)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for _, s := range ss {
			wg.Go(func() { errs <- s.Tick(context.Background()) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if jobs.count() != due {
			t.Fatalf("after %d due times %d jobs were sent", due, jobs.count())
		}
	}
}

func TestOverlapSkip(t *testing.T) {
	c := &clock{t: t0}
	jobs := newFakeJobs()
	s := newScheduler(t, openDB(t), c, jobs, every(schemas.OverlapSkip, 0))
	tick(t, s)
	c.Add(time.Minute)
	tick(t, s)
	first := jobs.last().JobID
	jobs.end(first, producer.StateRunning)
	c.Add(time.Minute)
	tick(t, s)
	if jobs.count() != 1 {
		t.Fatalf("skip sent a job while the previous ran")
	}
	fires, _ := s.Store().Fires(context.Background(), "s", 1)
	if fires[0].Status != StatusSkipped {
		t.Errorf("fire = %+v, want skipped", fires[0])
	}
	jobs.end(first, producer.StateSucceeded)
	c.Add(time.Minute)
	tick(t, s)
	if jobs.count() != 2 {
		t.Fatalf("skip sent nothing after the previous job ended")
	}
}

func TestOverlapSkipWaitsForAJobNotYetJournaled(t *testing.T) {
	c := &clock{t: t0}
	jobs := newFakeJobs()
	s := newScheduler(t, openDB(t), c, jobs, every(schemas.OverlapSkip, 0))
	tick(t, s)
	c.Add(time.Minute)
	tick(t, s)
	jobs.mu.Lock()
	delete(jobs.states, jobs.submitted[0].JobID) // the gatekeeper has not handled it
	jobs.mu.Unlock()
	c.Add(time.Minute)
	tick(t, s)
	if jobs.count() != 1 {
		t.Fatal("skip sent a job while the previous was not yet handled")
	}
	c.Add(lostAfter) // never handled: lost, no longer blocks
	tick(t, s)
	if jobs.count() != 2 {
		t.Fatal("a lost request blocks a skip schedule")
	}
}

func TestOverlapAllowAndCancelPrevious(t *testing.T) {
	for _, overlap := range []string{schemas.OverlapAllow, schemas.OverlapCancelPrevious} {
		t.Run(overlap, func(t *testing.T) {
			c := &clock{t: t0}
			jobs := newFakeJobs()
			s := newScheduler(t, openDB(t), c, jobs, every(overlap, 0))
			tick(t, s)
			c.Add(time.Minute)
			tick(t, s)
			first := jobs.last().JobID
			jobs.end(first, producer.StateRunning)
			c.Add(time.Minute)
			tick(t, s)
			if jobs.count() != 2 {
				t.Fatalf("%s sent %d jobs, want 2", overlap, jobs.count())
			}
			wantCancelled := 0
			if overlap == schemas.OverlapCancelPrevious {
				wantCancelled = 1
			}
			if len(jobs.cancelled) != wantCancelled || (wantCancelled == 1 && jobs.cancelled[0] != first) {
				t.Errorf("cancelled %v", jobs.cancelled)
			}
		})
	}
}

func TestPauseAfterFailuresAndResume(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: t0}
	jobs := newFakeJobs()
	s := newScheduler(t, openDB(t), c, jobs, every(schemas.OverlapAllow, 3))
	tick(t, s)
	run := func(st producer.JobState) {
		t.Helper()
		c.Add(time.Minute)
		tick(t, s)
		jobs.end(jobs.last().JobID, st)
	}
	run(producer.StateFailed)
	run(producer.StateSucceeded) // resets the count
	run(producer.StateFailed)
	run(producer.StateTimedOut)
	run(producer.StateRejected)
	tick(t, s) // counts the third failure in a row
	st, err := s.Store().State(ctx, "s")
	if err != nil || !st.Paused || st.Failures != 3 {
		t.Fatalf("state = %+v, %v; want paused after 3 failures", st, err)
	}
	sent := jobs.count()
	c.Add(10 * time.Minute)
	tick(t, s)
	if jobs.count() != sent {
		t.Fatal("a paused schedule fired")
	}
	if err := s.Store().Resume(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	st, _ = s.Store().State(ctx, "s")
	if st.Paused || st.Failures != 0 {
		t.Fatalf("after resume: %+v", st)
	}
	tick(t, s) // due times passed while paused do not run
	if jobs.count() != sent {
		t.Fatal("resume ran a due time passed while paused")
	}
	c.Add(time.Minute)
	tick(t, s)
	if jobs.count() != sent+1 {
		t.Fatal("a resumed schedule did not fire")
	}
	// Pause by command, too.
	if err := s.Store().Pause(ctx, "s", "by hand"); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Minute)
	tick(t, s)
	if jobs.count() != sent+1 {
		t.Fatal("a schedule paused by hand fired")
	}
}

func TestNeverPausesAtZero(t *testing.T) {
	c := &clock{t: t0}
	jobs := newFakeJobs()
	s := newScheduler(t, openDB(t), c, jobs, every(schemas.OverlapAllow, 0))
	tick(t, s)
	for range 5 {
		c.Add(time.Minute)
		tick(t, s)
		jobs.end(jobs.last().JobID, producer.StateFailed)
	}
	tick(t, s)
	st, _ := s.Store().State(context.Background(), "s")
	if st.Paused || st.Failures != 5 {
		t.Fatalf("state = %+v", st)
	}
}

func TestBerlinScheduleFiresAtLocalTime(t *testing.T) {
	c := &clock{t: time.Date(2025, 3, 29, 12, 0, 0, 0, time.UTC)}
	jobs := newFakeJobs()
	s := newScheduler(t, openDB(t), c, jobs, map[string]schemas.Schedule{
		"n": {Cron: "0 2 * * *", TimeZone: "Europe/Berlin", Container: "c", Script: "x"}})
	tick(t, s)
	c.Set(time.Date(2025, 3, 30, 0, 59, 0, 0, time.UTC)) // 01:59 CET
	tick(t, s)
	if jobs.count() != 0 {
		t.Fatal("fired early")
	}
	c.Set(time.Date(2025, 3, 30, 1, 0, 0, 0, time.UTC)) // 03:00 CEST: 02:00 was skipped
	tick(t, s)
	if jobs.count() != 1 {
		t.Fatal("the 02:00 of the spring-forward day did not run when the gap ended")
	}
}
