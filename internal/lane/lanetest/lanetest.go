// Package lanetest is the conformance suite of the lane port. Every
// adapter's tests call Run; a behaviour the suite does not check is not
// guaranteed by the port.
//
// Every test uses fresh lane names, releases what it took, and waits for
// leases to expire by polling with a deadline, never by sleeping.
package lanetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/deployerhq/deployer/internal/lane"
)

// Timeout bounds every wait of the suite.
const Timeout = 30 * time.Second

// ShortTTL is the ttl of leases the suite lets expire.
const ShortTTL = 500 * time.Millisecond

// Run runs the suite. newLimiter returns the adapter to test; it is called
// once per test (with that test's t) and may return handles on one shared
// backend.
func Run(t *testing.T, newLimiter func(t *testing.T) lane.Limiter) {
	tests := []struct {
		name string
		fn   func(t *testing.T, l lane.Limiter)
	}{
		{"LimitHonoured", testLimit},
		{"ReacquireRenews", testReacquire},
		{"ReleaseFreesSlot", testRelease},
		{"ExpiredLeaseFreesSlot", testExpiry},
		{"RenewNotHeld", testRenewNotHeld},
		{"LanesIsolated", testIsolated},
		{"Concurrent", testConcurrent},
		{"TransferKeepsTheCount", testTransfer},
		{"TransferToAHolderMerges", testTransferMerges},
		{"TransferNotHeld", testTransferNotHeld},
		{"LeasesListsLiveLeases", testLeases},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newLimiter(t)) })
	}
}

// newLane returns a fresh lane name.
func newLane() string { return "lanetest-" + ulid.Make().String() }

// holders releases every holder it made when the test ends.
type holders struct {
	t    *testing.T
	l    lane.Limiter
	lane string
	mu   sync.Mutex
	all  []string
}

func newHolders(t *testing.T, l lane.Limiter, ln string) *holders {
	h := &holders{t: t, l: l, lane: ln}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, id := range h.all {
			if err := l.Release(c, ln, id); err != nil {
				t.Errorf("cleanup: Release(%s, %s): %v", ln, id, err)
			}
		}
	})
	return h
}

func (h *holders) new(name string) string {
	id := fmt.Sprintf("%s/%s", name, ulid.Make())
	h.mu.Lock()
	h.all = append(h.all, id)
	h.mu.Unlock()
	return id
}

func acquire(t *testing.T, l lane.Limiter, ln string, limit int, holder string, ttl time.Duration) bool {
	t.Helper()
	ok, err := l.Acquire(t.Context(), ln, limit, holder, ttl)
	if err != nil {
		t.Fatalf("Acquire(%s, %d, %s): %v", ln, limit, holder, err)
	}
	return ok
}

func mustAcquire(t *testing.T, l lane.Limiter, ln string, limit int, holder string, ttl time.Duration) {
	t.Helper()
	if !acquire(t, l, ln, limit, holder, ttl) {
		t.Fatalf("Acquire(%s, %d, %s) = false, want true", ln, limit, holder)
	}
}

func mustNotAcquire(t *testing.T, l lane.Limiter, ln string, limit int, holder string, ttl time.Duration) {
	t.Helper()
	if acquire(t, l, ln, limit, holder, ttl) {
		t.Fatalf("Acquire(%s, %d, %s) = true, want false (lane full)", ln, limit, holder)
	}
}

// eventuallyAcquire retries Acquire until it succeeds or Timeout passes.
func eventuallyAcquire(t *testing.T, l lane.Limiter, ln string, limit int, holder string, ttl time.Duration) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for !acquire(t, l, ln, limit, holder, ttl) {
		if time.Now().After(deadline) {
			t.Fatalf("Acquire(%s, %d, %s) still false after %s", ln, limit, holder, Timeout)
		}
		pause(t, 20*time.Millisecond)
	}
}

func testLimit(t *testing.T, l lane.Limiter) {
	ln := newLane()
	h := newHolders(t, l, ln)
	got := 0
	for i := range 5 {
		if acquire(t, l, ln, 3, h.new(fmt.Sprint("job", i)), time.Hour) {
			got++
		}
	}
	if got != 3 {
		t.Fatalf("%d of 5 holders acquired a lane of limit 3, want 3", got)
	}
}

func testReacquire(t *testing.T, l lane.Limiter) {
	ln := newLane()
	h := newHolders(t, l, ln)
	a, b := h.new("a"), h.new("b")
	mustAcquire(t, l, ln, 2, a, time.Hour)
	mustAcquire(t, l, ln, 2, a, time.Hour)
	mustAcquire(t, l, ln, 2, a, time.Hour)
	// a still holds one slot only: b gets the other.
	mustAcquire(t, l, ln, 2, b, time.Hour)
	mustNotAcquire(t, l, ln, 2, h.new("c"), time.Hour)
	// Holders of a full lane can still renew by acquiring.
	mustAcquire(t, l, ln, 2, a, time.Hour)
	mustAcquire(t, l, ln, 2, b, time.Hour)
}

func testRelease(t *testing.T, l lane.Limiter) {
	ln := newLane()
	h := newHolders(t, l, ln)
	a, b := h.new("a"), h.new("b")
	mustAcquire(t, l, ln, 1, a, time.Hour)
	mustNotAcquire(t, l, ln, 1, b, time.Hour)
	if err := l.Release(t.Context(), ln, a); err != nil {
		t.Fatalf("Release: %v", err)
	}
	mustAcquire(t, l, ln, 1, b, time.Hour)
	// Releasing what is not held (any more, or ever) is a no-op.
	if err := l.Release(t.Context(), ln, a); err != nil {
		t.Fatalf("Release of a released lease: %v", err)
	}
	if err := l.Release(t.Context(), ln, h.new("never")); err != nil {
		t.Fatalf("Release of a lease never held: %v", err)
	}
	if err := l.Renew(t.Context(), ln, a, time.Hour); !errors.Is(err, lane.ErrNotHeld) {
		t.Fatalf("Renew after Release: got %v, want lane.ErrNotHeld", err)
	}
	mustNotAcquire(t, l, ln, 1, a, time.Hour)
}

func testExpiry(t *testing.T, l lane.Limiter) {
	ln := newLane()
	h := newHolders(t, l, ln)
	const limit = 3
	// r1 and r2 take short leases first and extend them (by Renew and by
	// acquiring again); a takes a short lease last and lets it lapse.
	r1, r2, a := h.new("renewed"), h.new("reacquired"), h.new("lapsed")
	start := time.Now()
	mustAcquire(t, l, ln, limit, r1, ShortTTL)
	mustAcquire(t, l, ln, limit, r2, ShortTTL)
	if err := l.Renew(t.Context(), ln, r1, time.Hour); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	mustAcquire(t, l, ln, limit, r2, time.Hour)
	mustAcquire(t, l, ln, limit, a, ShortTTL)

	x := h.new("next")
	if time.Since(start) < ShortTTL/2 {
		mustNotAcquire(t, l, ln, limit, x, time.Hour)
	}
	// a's slot frees once its lease lapses, and with it every original
	// short lease, taken before it, has passed too.
	eventuallyAcquire(t, l, ln, limit, x, time.Hour)
	if time.Since(start) < ShortTTL/2 {
		t.Fatalf("a slot freed after %s, well before the %s lease expired", time.Since(start), ShortTTL)
	}
	mustNotAcquire(t, l, ln, limit, h.new("late"), time.Hour)
	if err := l.Renew(t.Context(), ln, a, time.Hour); !errors.Is(err, lane.ErrNotHeld) {
		t.Fatalf("Renew of an expired lease: got %v, want lane.ErrNotHeld", err)
	}
	for _, r := range []string{r1, r2, x} {
		if err := l.Renew(t.Context(), ln, r, time.Hour); err != nil {
			t.Fatalf("Renew(%s): %v", r, err)
		}
	}
}

func testRenewNotHeld(t *testing.T, l lane.Limiter) {
	ln := newLane()
	h := newHolders(t, l, ln)
	if err := l.Renew(t.Context(), ln, h.new("never"), time.Hour); !errors.Is(err, lane.ErrNotHeld) {
		t.Fatalf("Renew of a lease never held: got %v, want lane.ErrNotHeld", err)
	}
	a := h.new("a")
	mustAcquire(t, l, ln, 1, a, time.Hour)
	if err := l.Renew(t.Context(), ln, a, time.Hour); err != nil {
		t.Fatalf("Renew of a held lease: %v", err)
	}
	// Held in one lane is not held in another.
	if err := l.Renew(t.Context(), newLane(), a, time.Hour); !errors.Is(err, lane.ErrNotHeld) {
		t.Fatalf("Renew in another lane: got %v, want lane.ErrNotHeld", err)
	}
}

func testIsolated(t *testing.T, l lane.Limiter) {
	ln1, ln2 := newLane(), newLane()
	h1, h2 := newHolders(t, l, ln1), newHolders(t, l, ln2)
	mustAcquire(t, l, ln1, 1, h1.new("a"), time.Hour)
	mustNotAcquire(t, l, ln1, 1, h1.new("b"), time.Hour)
	// A full lane does not block another, nor does one holder's lease.
	shared := h2.new("shared")
	mustAcquire(t, l, ln2, 1, shared, time.Hour)
	h1.mu.Lock()
	h1.all = append(h1.all, shared)
	h1.mu.Unlock()
	mustNotAcquire(t, l, ln1, 1, shared, time.Hour)
	if err := l.Release(t.Context(), ln1, shared); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := l.Renew(t.Context(), ln2, shared, time.Hour); err != nil {
		t.Fatalf("Renew after a Release in another lane: %v", err)
	}
}

func testConcurrent(t *testing.T, l lane.Limiter) {
	ln := newLane()
	h := newHolders(t, l, ln)
	const limit, workers, rounds = 2, 6, 5
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	defer cancel()
	// Each round, every worker tries the lane at once and keeps what it
	// gets until all have tried; then the winners release.
	for round := range rounds {
		var (
			wg    sync.WaitGroup
			won   atomic.Int64
			start = make(chan struct{})
			errs  = make(chan error, workers)
			got   = make([]string, workers)
		)
		for w := range workers {
			holder := h.new(fmt.Sprint("worker", w))
			wg.Go(func() {
				<-start
				ok, err := l.Acquire(ctx, ln, limit, holder, time.Hour)
				if err != nil {
					errs <- err
					return
				}
				if ok {
					won.Add(1)
					got[w] = holder
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: Acquire: %v", round, err)
		}
		if n := won.Load(); n != limit {
			t.Fatalf("round %d: %d of %d concurrent acquirers got a lane of limit %d, want %d",
				round, n, workers, limit, limit)
		}
		for _, holder := range got {
			if holder == "" {
				continue
			}
			if err := l.Release(ctx, ln, holder); err != nil {
				t.Fatalf("Release: %v", err)
			}
		}
	}
}

// mustTransfer transfers from's lease to to and checks that to holds one
// and from none.
func mustTransfer(t *testing.T, l lane.Limiter, ln, from, to string) {
	t.Helper()
	if err := l.Transfer(t.Context(), ln, from, to, time.Hour); err != nil {
		t.Fatalf("Transfer(%s, %s, %s): %v", ln, from, to, err)
	}
	mustNotHold(t, l, ln, from)
	mustHold(t, l, ln, to)
}

func mustHold(t *testing.T, l lane.Limiter, ln, holder string) {
	t.Helper()
	if err := l.Renew(t.Context(), ln, holder, time.Hour); err != nil {
		t.Fatalf("Renew(%s, %s): %v, want it held", ln, holder, err)
	}
}

func mustNotHold(t *testing.T, l lane.Limiter, ln, holder string) {
	t.Helper()
	if err := l.Renew(t.Context(), ln, holder, time.Hour); !errors.Is(err, lane.ErrNotHeld) {
		t.Fatalf("Renew(%s, %s): %v, want lane.ErrNotHeld", ln, holder, err)
	}
}

// testTransfer: a reservation handed to its job keeps the lane full
// throughout, and the job's lease then frees the slot.
func testTransfer(t *testing.T, l lane.Limiter) {
	ln := newLane()
	h := newHolders(t, l, ln)
	reserved, other, job := h.new("reservation"), h.new("other"), h.new("job")
	mustAcquire(t, l, ln, 2, reserved, time.Hour)
	mustAcquire(t, l, ln, 2, other, time.Hour)
	mustTransfer(t, l, ln, reserved, job)
	mustNotAcquire(t, l, ln, 2, h.new("late"), time.Hour)
	if err := l.Release(t.Context(), ln, job); err != nil {
		t.Fatalf("Release: %v", err)
	}
	mustAcquire(t, l, ln, 2, h.new("next"), time.Hour)
}

// testTransferMerges: a reservation handed to a job that holds a lease
// already (a run order delivered again) frees the reservation's slot.
func testTransferMerges(t *testing.T, l lane.Limiter) {
	ln := newLane()
	h := newHolders(t, l, ln)
	job, reserved := h.new("job"), h.new("reservation")
	mustAcquire(t, l, ln, 2, job, time.Hour)
	mustAcquire(t, l, ln, 2, reserved, time.Hour)
	mustTransfer(t, l, ln, reserved, job)
	mustAcquire(t, l, ln, 2, h.new("next"), time.Hour)
	mustNotAcquire(t, l, ln, 2, h.new("late"), time.Hour)
}

func testTransferNotHeld(t *testing.T, l lane.Limiter) {
	ln := newLane()
	h := newHolders(t, l, ln)
	never, job := h.new("never"), h.new("job")
	if err := l.Transfer(t.Context(), ln, never, job, time.Hour); !errors.Is(err, lane.ErrNotHeld) {
		t.Fatalf("Transfer of a lease never held: %v, want lane.ErrNotHeld", err)
	}
	mustNotHold(t, l, ln, job)
	// An expired lease is not held either: once another holder got the
	// lane of limit 1, the lapsed lease is gone.
	lapsed := h.new("lapsed")
	mustAcquire(t, l, ln, 1, lapsed, ShortTTL)
	eventuallyAcquire(t, l, ln, 1, h.new("probe"), time.Hour)
	if err := l.Transfer(t.Context(), ln, lapsed, job, time.Hour); !errors.Is(err, lane.ErrNotHeld) {
		t.Fatalf("Transfer of an expired lease: %v, want lane.ErrNotHeld", err)
	}
	mustNotHold(t, l, ln, job)
}

func testLeases(t *testing.T, l lane.Limiter) {
	ln := newLane()
	h := newHolders(t, l, ln)
	a, b, short := h.new("a"), h.new("b"), h.new("short")
	before := time.Now()
	mustAcquire(t, l, ln, 3, a, time.Hour)
	mustAcquire(t, l, ln, 3, b, 2*time.Hour)
	mustAcquire(t, l, ln, 3, short, ShortTTL)
	got, err := l.Leases(t.Context(), ln)
	if err != nil {
		t.Fatalf("Leases: %v", err)
	}
	want := map[string]time.Duration{a: time.Hour, b: 2 * time.Hour, short: ShortTTL}
	if time.Since(before) < ShortTTL/2 && len(got) != 3 {
		t.Fatalf("Leases = %v, want 3 leases", got)
	}
	for _, ls := range got {
		ttl, ok := want[ls.Holder]
		if !ok {
			t.Fatalf("Leases lists %s, never acquired in this lane", ls.Holder)
		}
		// Allow for a clock in milliseconds and a slow call.
		if lo, hi := before.Add(ttl-time.Second), time.Now().Add(ttl+time.Second); ls.Expires.Before(lo) || ls.Expires.After(hi) {
			t.Errorf("lease of %s expires at %s, want about %s from acquiring", ls.Holder, ls.Expires, ttl)
		}
	}
	if err := l.Release(t.Context(), ln, a); err != nil {
		t.Fatalf("Release: %v", err)
	}
	deadline := time.Now().Add(Timeout)
	for {
		got, err := l.Leases(t.Context(), ln)
		if err != nil {
			t.Fatalf("Leases: %v", err)
		}
		if len(got) == 1 && got[0].Holder == b {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Leases = %v %s after a release and a lapse, want only %s", got, Timeout, b)
		}
		pause(t, 20*time.Millisecond)
	}
	if got, err := l.Leases(t.Context(), newLane()); err != nil || len(got) != 0 {
		t.Fatalf("Leases of an unused lane = %v, %v; want none", got, err)
	}
}

// pause waits d, failing the test if it ends first.
func pause(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-t.Context().Done():
		t.Fatal(t.Context().Err())
	case <-time.After(d):
	}
}
