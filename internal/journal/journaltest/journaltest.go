// Package journaltest is the conformance suite of the journal port. Every
// adapter's tests call Run; a behaviour the suite does not check is not
// guaranteed by the port.
//
// Every test uses fresh job ids and assumes nothing about what else the
// backend holds. Reads that must see earlier appends poll with a deadline
// (Timeout), so eventually consistent backends pass too.
package journaltest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/schemas"
)

// Timeout bounds how long the suite waits for appended events to be
// readable.
const Timeout = 30 * time.Second

// Run runs the suite. newJournal returns the adapter to test; it is called
// once per test (with that test's t) and may return handles on one shared
// backend.
func Run(t *testing.T, newJournal func(t *testing.T) journal.Journal) {
	tests := []struct {
		name string
		fn   func(t *testing.T, j journal.Journal)
	}{
		{"AppendRead", testAppendRead},
		{"FieldsPreserved", testFields},
		{"Idempotent", testIdempotent},
		{"NotFound", testNotFound},
		{"JobsIsolated", testIsolated},
		{"AppendNothing", testAppendNothing},
		{"ConcurrentAppends", testConcurrent},
		{"ListOrderAndPrefix", testListOrder},
		{"ListBeforeAndLimit", testListPages},
		{"ListDefaultLimit", testListDefaultLimit},
		{"ListBatchKeys", testListBatchKeys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newJournal(t)) })
	}
}

var base = time.Now().UTC().Truncate(time.Millisecond)

func event(jobID string, n int) schemas.JobEvent {
	types := []schemas.EventType{schemas.EventAccepted, schemas.EventQueued, schemas.EventStarting,
		schemas.EventStarted, schemas.EventHeartbeat}
	return schemas.JobEvent{
		Schema: schemas.JobEventV1,
		JobID:  jobID,
		ID:     fmt.Sprintf("%s-%04d", jobID, n),
		Time:   base.Add(time.Duration(n) * time.Millisecond),
		Type:   types[n%len(types)],
		Source: "journaltest",
	}
}

func events(jobID string, from, to int) []schemas.JobEvent {
	var evs []schemas.JobEvent
	for n := from; n < to; n++ {
		evs = append(evs, event(jobID, n))
	}
	return evs
}

func appendEvents(t *testing.T, j journal.Journal, jobID string, evs ...schemas.JobEvent) {
	t.Helper()
	if err := j.Append(t.Context(), jobID, evs...); err != nil {
		t.Fatalf("Append(%s, %d events): %v", jobID, len(evs), err)
	}
}

// readN reads the job's journal until it holds at least n events.
func readN(t *testing.T, j journal.Journal, jobID string, n int) []schemas.JobEvent {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		evs, err := j.Read(t.Context(), jobID)
		if err != nil && !errors.Is(err, journal.ErrNotFound) {
			t.Fatalf("Read(%s): %v", jobID, err)
		}
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("Read(%s): %d events after %s, want %d (last error %v)", jobID, len(evs), Timeout, n, err)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func wantIDs(t *testing.T, got []schemas.JobEvent, want []schemas.JobEvent) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events %v, want %d %v", len(got), ids(got), len(want), ids(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID {
			t.Fatalf("event %d is %s, want %s (got %v)", i, got[i].ID, want[i].ID, ids(got))
		}
	}
}

func ids(evs []schemas.JobEvent) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

func newJob() string { return ulid.Make().String() }

func testAppendRead(t *testing.T, j journal.Journal) {
	jobID := newJob()
	want := events(jobID, 0, 120)
	appendEvents(t, j, jobID, want[:3]...)
	appendEvents(t, j, jobID, want[3])
	appendEvents(t, j, jobID, want[4])
	appendEvents(t, j, jobID, want[5:]...)
	wantIDs(t, readN(t, j, jobID, len(want)), want)
}

func testFields(t *testing.T, j journal.Journal) {
	jobID := newJob()
	exit := 2
	lines := int64(1234)
	want := []schemas.JobEvent{
		{
			Schema: schemas.JobEventV1, JobID: jobID, ID: jobID + "-accepted", Time: base,
			Type: schemas.EventAccepted, Source: "gatekeeper", Attempt: 1,
			Container: "terraform", Script: "plan", Argv: []string{"plan", "-var", "a=b c", ""},
		},
		{
			Schema: schemas.JobEventV1, JobID: jobID, ID: jobID + "-started", Time: base.Add(time.Second),
			Type: schemas.EventStarted, Source: "worker", Attempt: 1, TaskID: "task/αβγ",
		},
		{
			Schema: schemas.JobEventV1, JobID: jobID, ID: jobID + "-finished", Time: base.Add(2 * time.Second),
			Type: schemas.EventFinished, Source: "worker", Attempt: 1, TaskID: "task/αβγ",
			Outcome: schemas.OutcomeFailed, ExitCode: &exit, Reason: "task exited 2 — “quoted”",
			ReasonCode: "exit_nonzero", LogEvents: &lines, Duration: schemas.Duration(61500 * time.Millisecond),
		},
	}
	appendEvents(t, j, jobID, want...)
	got := readN(t, j, jobID, len(want))
	wantIDs(t, got, want)
	for i := range want {
		g, w := got[i], want[i]
		g.Time, w.Time = g.Time.UTC(), w.Time.UTC()
		if !reflect.DeepEqual(g, w) {
			gb, _ := json.Marshal(g)
			wb, _ := json.Marshal(w)
			t.Errorf("event %d changed:\n got %s\nwant %s", i, gb, wb)
		}
	}
}

func testIdempotent(t *testing.T, j journal.Journal) {
	jobID := newJob()
	want := events(jobID, 0, 5)
	appendEvents(t, j, jobID, want[:3]...)
	appendEvents(t, j, jobID, want[1])                   // again, alone
	appendEvents(t, j, jobID, want[2], want[3], want[3]) // again, with a new one, twice in one call
	appendEvents(t, j, jobID, want[0], want[4], want[1]) // old ones around a new one
	appendEvents(t, j, jobID, want...)                   // everything again
	wantIDs(t, readN(t, j, jobID, len(want)), want)
	// Nothing more turns up later.
	got, err := j.Read(t.Context(), jobID)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	wantIDs(t, got, want)
}

func testNotFound(t *testing.T, j journal.Journal) {
	_, err := j.Read(t.Context(), newJob())
	if !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Read of an unknown job: got %v, want journal.ErrNotFound", err)
	}
}

func testIsolated(t *testing.T, j journal.Journal) {
	a, b := newJob(), newJob()
	wantA, wantB := events(a, 0, 4), events(b, 0, 3)
	appendEvents(t, j, a, wantA[:2]...)
	appendEvents(t, j, b, wantB...)
	appendEvents(t, j, a, wantA[2:]...)
	wantIDs(t, readN(t, j, a, len(wantA)), wantA)
	wantIDs(t, readN(t, j, b, len(wantB)), wantB)
	// The same event id in two jobs is two events.
	shared := event(a, 99)
	sharedB := shared
	sharedB.JobID = b
	appendEvents(t, j, a, shared)
	appendEvents(t, j, b, sharedB)
	if got := readN(t, j, a, len(wantA)+1); got[len(got)-1].ID != shared.ID {
		t.Fatalf("job %s: last event %s, want %s", a, got[len(got)-1].ID, shared.ID)
	}
	if got := readN(t, j, b, len(wantB)+1); got[len(got)-1].ID != shared.ID {
		t.Fatalf("job %s: last event %s, want %s", b, got[len(got)-1].ID, shared.ID)
	}
}

func testAppendNothing(t *testing.T, j journal.Journal) {
	jobID := newJob()
	if err := j.Append(t.Context(), jobID); err != nil {
		t.Fatalf("Append with no events: %v", err)
	}
	if _, err := j.Read(t.Context(), jobID); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Read after appending nothing: got %v, want journal.ErrNotFound", err)
	}
}

func testConcurrent(t *testing.T, j journal.Journal) {
	jobID := newJob()
	const writers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := j.Append(context.WithoutCancel(t.Context()), jobID, event(jobID, w*each+i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Append: %v", err)
	}
	got := readN(t, j, jobID, writers*each)
	seen := map[string]bool{}
	for _, ev := range got {
		if seen[ev.ID] {
			t.Fatalf("event %s recorded twice", ev.ID)
		}
		seen[ev.ID] = true
	}
	if len(seen) != writers*each {
		t.Fatalf("got %d events, want %d", len(seen), writers*each)
	}
	// Each writer's events keep their order.
	last := map[int]int{}
	for _, ev := range got {
		var n int
		if _, err := fmt.Sscanf(ev.ID[len(jobID):], "-%d", &n); err != nil {
			t.Fatalf("event id %q: %v", ev.ID, err)
		}
		if prev, ok := last[n/each]; ok && n < prev {
			t.Fatalf("writer %d's event %d was recorded after its event %d", n/each, n, prev)
		}
		last[n/each] = n
	}
}

// listEq lists with opts until the answer is want (or Timeout passes), so
// that keys of eventually consistent backends have time to show.
func listEq(t *testing.T, j journal.Journal, opts journal.ListOptions, want ...string) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		got, err := j.List(t.Context(), opts)
		if err != nil {
			t.Fatalf("List(%+v): %v", opts, err)
		}
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("List(%+v) = %q, want %q", opts, got, want)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// listKeys appends to keys ns+"a".. ns+"e" (ns+"b" with many events, the
// others with one or two), in no order, and returns them descending.
func listKeys(t *testing.T, j journal.Journal, ns string) []string {
	t.Helper()
	for _, s := range []string{"c", "a", "e", "b", "d"} {
		n := 1 + len(s)%2
		if s == "b" {
			n = 120
		}
		appendEvents(t, j, ns+s, events(ns+s, 0, n)...)
	}
	return []string{ns + "e", ns + "d", ns + "c", ns + "b", ns + "a"}
}

func testListOrder(t *testing.T, j journal.Journal) {
	ns := newJob() + "-"
	keys := listKeys(t, j, ns)
	// A key outside the prefix, on either side of it, and one appended
	// nothing.
	appendEvents(t, j, ns[:len(ns)-1]+"+x", event(ns[:len(ns)-1]+"+x", 0))
	appendEvents(t, j, ns[:len(ns)-1]+".x", event(ns[:len(ns)-1]+".x", 0))
	if err := j.Append(t.Context(), ns+"z"); err != nil {
		t.Fatal(err)
	}
	listEq(t, j, journal.ListOptions{Prefix: ns}, keys...)
	listEq(t, j, journal.ListOptions{Prefix: ns + "c"}, ns+"c")
	listEq(t, j, journal.ListOptions{Prefix: ns + "cc"})
	listEq(t, j, journal.ListOptions{Prefix: newJob()})
	// Without a prefix, everything between ns+"a" and ns+"f" has the
	// prefix ns, whatever else the backend holds.
	listEq(t, j, journal.ListOptions{Before: ns + "f", Limit: 5}, keys...)
	// Each key once, however many events it has.
	listEq(t, j, journal.ListOptions{Prefix: ns, Before: ns + "c", Limit: 1}, ns+"b")
}

func testListPages(t *testing.T, j journal.Journal) {
	ns := newJob() + "-"
	keys := listKeys(t, j, ns)
	listEq(t, j, journal.ListOptions{Prefix: ns}, keys...)
	// Page by two: each page's last key is the next page's Before.
	var (
		before string
		all    []string
	)
	for range 3 {
		page, err := j.List(t.Context(), journal.ListOptions{Prefix: ns, Before: before, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 2 {
			break
		}
		before = page[len(page)-1]
	}
	if !slices.Equal(all, keys) {
		t.Fatalf("pages of two: %q, want %q", all, keys)
	}
	listEq(t, j, journal.ListOptions{Prefix: ns, Before: ns + "c"}, ns+"b", ns+"a")
	listEq(t, j, journal.ListOptions{Prefix: ns, Before: ns + "bb"}, ns+"b", ns+"a")
	listEq(t, j, journal.ListOptions{Prefix: ns, Before: ns + "a"})
	listEq(t, j, journal.ListOptions{Prefix: ns, Before: ns})
	listEq(t, j, journal.ListOptions{Prefix: ns, Before: ns + "zz", Limit: 3}, keys[:3]...)
	// Before past the prefix's range bounds nothing.
	listEq(t, j, journal.ListOptions{Prefix: ns + "d", Before: ns + "z"}, ns+"d")
}

func testListDefaultLimit(t *testing.T, j journal.Journal) {
	ns := newJob() + "-"
	var want []string
	for i := range journal.DefaultListLimit + 1 {
		k := fmt.Sprintf("%s%03d", ns, i)
		appendEvents(t, j, k, event(k, 0))
		want = append(want, k)
	}
	slices.Reverse(want)
	listEq(t, j, journal.ListOptions{Prefix: ns}, want[:journal.DefaultListLimit]...)
	listEq(t, j, journal.ListOptions{Prefix: ns, Limit: -1}, want[:journal.DefaultListLimit]...)
	listEq(t, j, journal.ListOptions{Prefix: ns, Limit: journal.MaxListLimit + 1}, want...)
	// Before a key deep in the listing (more than a page of names after it).
	listEq(t, j, journal.ListOptions{Prefix: ns, Before: want[97], Limit: 2}, want[98], want[99])
}

// testListBatchKeys checks a batch's journal (journal.Record) is listed
// under its batch id, apart from its jobs.
func testListBatchKeys(t *testing.T, j journal.Journal) {
	batch := schemas.BatchIDPrefix + newJob()
	a, b := newJob(), newJob()
	for _, job := range []string{a, b} {
		if err := journal.Record(t.Context(), j, job, batch, events(job, 2, 5)...); err != nil {
			t.Fatal(err)
		}
	}
	listEq(t, j, journal.ListOptions{Prefix: batch}, batch)
	listEq(t, j, journal.ListOptions{Prefix: a}, a)
	listEq(t, j, journal.ListOptions{Prefix: b}, b)
	got := readN(t, j, batch, 4) // starting and started of each; the heartbeats stay out
	if len(got) != 4 {
		t.Fatalf("the batch's journal holds %d events, want 4", len(got))
	}
}
