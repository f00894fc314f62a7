package replay_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/embedded"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/replay"
	"github.com/deployerhq/deployer/internal/stream/sqlitestream"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

const sender = "user:test"

// allowsA lets anyone run c/a and d/a; c/b is not in the allow-list.
const allowsA = `
containers:
  c: {image: x, script_config: {a: {allow_positional_args: true}}}
  d: {image: x, script_config: {a: {allow_positional_args: true}}}
`

// allowsAB also allows c/b.
const allowsAB = `
containers:
  c: {image: x, script_config: {a: {allow_positional_args: true}, b: {}}}
  d: {image: x, script_config: {a: {allow_positional_args: true}}}
`

func parse(t *testing.T, doc string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(doc), "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type rig struct {
	b   *embedded.Backend
	pol *policy.Policy
}

func newRig(t *testing.T) *rig {
	t.Helper()
	b, err := embedded.Open(t.Context(), t.TempDir(), embedded.Options{Sender: sender})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return &rig{b: b, pol: parse(t, allowsAB)}
}

// deadLetter puts a dead letter of a failed job of container/script in
// the run dead-letter queue, as a worker would, and returns the job id.
func (r *rig) deadLetter(t *testing.T, container, script, batch string, failed time.Time) string {
	t.Helper()
	id := producer.NewJobID()
	req := schemas.JobRequest{JobID: id, Container: container, Script: script, Stream: sqlitestream.Address(id),
		Attempt: 1, SubmittedAt: failed}
	if batch != "" {
		req.BatchID, req.Batch = batch, &schemas.BatchSpec{Name: "b", Size: 2, Index: 1}
	}
	order, err := r.pol.Resolve(req, schemas.Identity{Principal: sender, Source: "os_user"}, failed)
	if err != nil {
		t.Fatal(err)
	}
	body, err := schemas.DeadLetter{JobID: id, Request: &req, Order: &order, Failure: schemas.Failure{
		Outcome: schemas.OutcomeFailed, Reason: "the task exited with code 3", ReasonCode: "task_failed", Attempts: 1, Time: failed,
	}}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	_, runs := r.b.DeadLetterQueues()
	if _, err := runs.Send(t.Context(), queue.Outgoing{Body: body}); err != nil {
		t.Fatal(err)
	}
	return id
}

// gatekeep serves the request queue with a real gatekeeper on pol (no
// worker: accepted run orders stay in their run queues) until the test
// ends or stop is called.
func (r *rig) gatekeep(t *testing.T, pol gatekeeper.Policy) (stop func()) {
	t.Helper()
	requests, _ := r.b.DeadLetterQueues()
	g := &gatekeeper.Gatekeeper{
		Policy: pol, RunQueue: r.b.RunQueue, DeadLetters: requests, Streams: r.b.Streams,
		StreamAddress: sqlitestream.Address, Journal: r.b.Journal,
		Identify: func(_ context.Context, s string) (schemas.Identity, error) {
			return schemas.Identity{Principal: s, Source: "os_user"}, nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = g.Serve(ctx, r.b.Client().Requests, gatekeeper.ServeOptions{Wait: 50 * time.Millisecond, Visibility: time.Second})
	})
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func (r *rig) engine(pol replay.Policy) *replay.Engine {
	return &replay.Engine{Backend: r.b, Policy: pol, Caller: schemas.Identity{Principal: sender, Source: "os_user"},
		AnswerWait: 10 * time.Second, Poll: 20 * time.Millisecond}
}

// left lists the job ids of the dead letters left.
func (r *rig) left(t *testing.T) map[string]bool {
	t.Helper()
	items, err := r.engine(parse(t, allowsAB)).Plan(t.Context(), replay.Filter{All: true})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, it := range items {
		out[it.JobID] = true
	}
	return out
}

func byJob(items []replay.Item) map[string]replay.Item {
	m := map[string]replay.Item{}
	for _, it := range items {
		m[it.JobID] = it
	}
	return m
}

func TestFiltersSelect(t *testing.T) {
	r := newRig(t)
	now := time.Now().UTC()
	const batch = "batch-01J9Z8Y7X6W5V4T3S2R1Q0P9NM"
	ca1 := r.deadLetter(t, "c", "a", batch, now.Add(-time.Hour))
	ca2 := r.deadLetter(t, "c", "a", batch, now.Add(-time.Minute))
	cb := r.deadLetter(t, "c", "b", "", now.Add(-time.Minute))
	da := r.deadLetter(t, "d", "a", "", now.Add(-48*time.Hour))
	e := r.engine(parse(t, allowsAB))
	for _, tt := range []struct {
		name string
		f    replay.Filter
		want []string
	}{
		{"nothing", replay.Filter{}, nil},
		{"all", replay.Filter{All: true}, []string{da, ca1, ca2, cb}},
		{"container", replay.Filter{Container: "c"}, []string{ca1, ca2, cb}},
		{"script", replay.Filter{Script: "a"}, []string{da, ca1, ca2}},
		{"batch", replay.Filter{BatchID: batch}, []string{ca1, ca2}},
		{"since", replay.Filter{Since: now.Add(-2 * time.Hour)}, []string{ca1, ca2, cb}},
		{"container and script", replay.Filter{Container: "c", Script: "b"}, []string{cb}},
		{"ids", replay.Filter{JobIDs: []string{cb, da}}, []string{cb, da}},
		{"ids narrowed", replay.Filter{JobIDs: []string{cb, da, ca1}, Container: "c"}, []string{cb, ca1}},
	} {
		items, err := e.Plan(t.Context(), tt.f)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var got []string
		for _, it := range items {
			got = append(got, it.JobID)
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
				break
			}
		}
	}
	// Looking consumed nothing.
	if l := r.left(t); len(l) != 4 {
		t.Errorf("%d dead letters left after dry runs, want 4", len(l))
	}
}

func TestReplayKeepsRejectedAndRunsAcceptedOnce(t *testing.T) {
	r := newRig(t)
	now := time.Now().UTC()
	ok1 := r.deadLetter(t, "c", "a", "", now)
	ok2 := r.deadLetter(t, "d", "a", "", now)
	bad := r.deadLetter(t, "c", "b", "", now)
	tight := parse(t, allowsA) // the policy in force no longer allows c/b
	r.gatekeep(t, tight)
	e := r.engine(tight)
	f := replay.Filter{All: true}

	plan, err := e.Plan(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Replay(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	p, g := byJob(plan), byJob(got)
	for _, id := range []string{ok1, ok2} {
		if p[id].Verdict != replay.VerdictWouldReplay || g[id].Verdict != replay.VerdictReplayed || g[id].ReplayID != id+"-r1" ||
			g[id].State != producer.StateQueued {
			t.Errorf("job %s: plan %+v, replay %+v", id, p[id], g[id])
		}
	}
	if p[bad].Verdict != replay.VerdictRejected || p[bad].ReasonCode != policy.CodeUnknownScript ||
		g[bad].Verdict != replay.VerdictRejected || g[bad].Reason != p[bad].Reason {
		t.Errorf("rejected job: plan %+v, replay %+v", p[bad], g[bad])
	}
	if l := r.left(t); len(l) != 1 || !l[bad] {
		t.Fatalf("dead letters left %v, want only %s", l, bad)
	}

	// Asked again, many times: answered "already", nothing sent.
	for range 3 {
		again, err := e.Replay(t.Context(), replay.Filter{JobIDs: []string{ok1, ok2, bad}})
		if err != nil {
			t.Fatal(err)
		}
		a := byJob(again)
		if a[ok1].Verdict != replay.VerdictAlready || a[ok1].ReplayID != ok1+"-r1" || a[ok2].Verdict != replay.VerdictAlready ||
			a[bad].Verdict != replay.VerdictRejected {
			t.Fatalf("asked again: %+v", again)
		}
	}
	if n := runOrders(t, r); n != 2 {
		t.Errorf("%d run orders queued, want 2: one per accepted replay", n)
	}
	// The rejected one was never sent: its replay id is unused.
	if _, err := r.b.Client().Status(t.Context(), bad+"-r1"); err == nil {
		t.Errorf("the rejected replay %s-r1 was sent", bad)
	}
}

func TestGatekeeperRejectionKeepsTheDeadLetterAndRetriesAfterAFix(t *testing.T) {
	r := newRig(t)
	id := r.deadLetter(t, "c", "b", "", time.Now().UTC())
	// The engine's policy allows it, the gatekeeper's (not yet reloaded)
	// does not: the gatekeeper's word counts.
	stop := r.gatekeep(t, parse(t, allowsA))
	e := r.engine(parse(t, allowsAB))
	got, err := e.Replay(t.Context(), replay.Filter{JobIDs: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Verdict != replay.VerdictRejected || got[0].ReasonCode != policy.CodeUnknownScript || got[0].Attempt != 1 {
		t.Fatalf("replay %+v, want rejected by the gatekeeper", got)
	}
	if l := r.left(t); !l[id] {
		t.Fatal("a rejected replay deleted its dead letter")
	}
	stop()

	// The gatekeeper now runs the fixed policy: the next try is the next
	// attempt of the same replay job, and it is accepted.
	r.gatekeep(t, parse(t, allowsAB))
	got, err = e.Replay(t.Context(), replay.Filter{JobIDs: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Verdict != replay.VerdictReplayed || got[0].ReplayID != id+"-r1" || got[0].Attempt != 2 {
		t.Fatalf("replay after the fix %+v", got)
	}
	if l := r.left(t); l[id] {
		t.Fatal("an accepted replay kept its dead letter")
	}
}

func TestNoAnswerKeepsTheDeadLetter(t *testing.T) {
	r := newRig(t)
	id := r.deadLetter(t, "c", "a", "", time.Now().UTC())
	e := r.engine(parse(t, allowsA))
	e.AnswerWait = 200 * time.Millisecond // nothing serves the request queue
	got, err := e.Replay(t.Context(), replay.Filter{JobIDs: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Verdict != replay.VerdictPending {
		t.Fatalf("replay %+v, want pending", got)
	}
	if l := r.left(t); !l[id] {
		t.Fatal("an unanswered replay deleted its dead letter")
	}
	// Once the gatekeeper answers, asking again sends the same job and
	// attempt (run once by the runner) and deletes the dead letter.
	r.gatekeep(t, parse(t, allowsA))
	e.AnswerWait = 10 * time.Second
	got, err = e.Replay(t.Context(), replay.Filter{JobIDs: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || (got[0].Verdict != replay.VerdictReplayed && got[0].Verdict != replay.VerdictAlready) || got[0].Attempt != 1 {
		t.Fatalf("replay once answered %+v", got)
	}
	if l := r.left(t); l[id] {
		t.Fatal("an accepted replay kept its dead letter")
	}
}

// runOrders counts the run orders waiting in the default lane.
func runOrders(t *testing.T, r *rig) int {
	t.Helper()
	q, err := r.b.RunQueue(t.Context(), schemas.DefaultLane)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		msgs, err := q.Receive(t.Context(), queue.ReceiveOptions{Max: queue.MaxBatch, Visibility: time.Minute})
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			return n
		}
		n += len(msgs)
	}
}

func TestLookingDryRunChangesNothing(t *testing.T) {
	r := newRig(t)
	id := r.deadLetter(t, "c", "a", "", time.Now().UTC())
	// A state directory opened read-only: receiving (hiding) a letter is
	// a write, so only a dry run that looks can judge it.
	ro, err := embedded.Open(t.Context(), r.b.Dir, embedded.Options{Sender: sender, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ro.Close() })
	e := &replay.Engine{Backend: ro, Policy: parse(t, allowsAB), Caller: schemas.Identity{Principal: sender, Source: "os_user"}}
	if _, err := e.Plan(t.Context(), replay.Filter{JobIDs: []string{id}}); err == nil {
		t.Fatal("a receiving dry run on a read-only state directory succeeded; the test proves nothing")
	}
	e.Look = true
	items, err := e.Plan(t.Context(), replay.Filter{JobIDs: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Verdict != replay.VerdictWouldReplay || items[0].ReplayID != id+"-r1" {
		t.Fatalf("dry run = %+v", items)
	}
}
