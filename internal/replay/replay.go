package replay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// Policy resolves requests as the gatekeeper does; *policy.Policy
// implements it, and a refusal is a *policy.Rejection.
type Policy interface {
	Resolve(req schemas.JobRequest, caller schemas.Identity, now time.Time) (schemas.RunOrder, error)
}

// Defaults of Engine.
const (
	// DefaultAnswerWait is how long Replay waits for the gatekeeper to
	// answer the replays it sent.
	DefaultAnswerWait = time.Minute
	// lookFor is how long a job named by id whose dead letter is not found
	// is looked for again: another command may hold it hidden a moment.
	lookFor = 2*ScanVisibility + time.Second
)

// Engine selects, judges and replays dead letters.
type Engine struct {
	// Backend holds the dead-letter queues, the journal and the request
	// queue. Required.
	Backend backend.Backend
	// Policy is the policy in force (the embedded backend loads it as its
	// server does). Required.
	Policy Policy
	// Caller is the identity the gatekeeper will verify for the replays
	// this engine sends (the embedded backend's OS user). Zero: each dead
	// letter's original caller, from its run order.
	Caller schemas.Identity
	// AnswerWait bounds how long Replay waits for the gatekeeper's
	// answers. Defaults to DefaultAnswerWait.
	AnswerWait time.Duration
	// Poll is how often Replay reads the journal while it waits. Defaults
	// to 100ms.
	Poll time.Duration
	// MaxWait is how long the replays' streams are kept for followers.
	// Defaults to producer.DefaultMaxWait.
	MaxWait time.Duration
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
	// Look makes Plan read the dead letters of queues that can be peeked
	// at (the embedded backend's) instead of receiving them (see
	// Scanner.Look): a dry run then changes nothing at all, works on a
	// state directory opened read-only, and hides no letter from a
	// replay under way elsewhere. Replay always receives.
	Look bool
}

// Filter selects dead letters. JobIDs names jobs; the other fields select
// by what the dead letter's request says, and narrow JobIDs when both are
// given. A filter that selects nothing (no ids, not All, no field set)
// matches nothing.
type Filter struct {
	JobIDs    []string
	All       bool
	Container string
	Script    string
	BatchID   string
	// Since keeps jobs that failed at or after it.
	Since time.Time
}

// narrows reports whether any field other than JobIDs and All is set.
func (f Filter) narrows() bool {
	return f.Container != "" || f.Script != "" || f.BatchID != "" || !f.Since.IsZero()
}

// Empty reports whether f selects nothing.
func (f Filter) Empty() bool { return len(f.JobIDs) == 0 && !f.All && !f.narrows() }

// Match reports whether a dead letter passes the narrowing fields.
func (f Filter) Match(l *Letter) bool {
	if !f.Since.IsZero() && l.When().Before(f.Since) {
		return false
	}
	r := l.DL.Request
	if r == nil {
		return f.Container == "" && f.Script == "" && f.BatchID == ""
	}
	return (f.Container == "" || r.Container == f.Container) &&
		(f.Script == "" || r.Script == f.Script) &&
		(f.BatchID == "" || r.BatchID == f.BatchID)
}

// Verdict is what happens, or would happen, to one selected dead letter.
type Verdict string

// Verdicts. Only VerdictReplayed and VerdictAlready delete the dead letter.
const (
	// VerdictWouldReplay (dry run): the policy in force accepts the replay.
	VerdictWouldReplay Verdict = "would_replay"
	// VerdictReplayed: the gatekeeper accepted the replay; the dead letter
	// is deleted.
	VerdictReplayed Verdict = "replayed"
	// VerdictRejected: the policy in force (or the gatekeeper) rejects the
	// replay; the dead letter is kept. Reason says why.
	VerdictRejected Verdict = "rejected"
	// VerdictAlready: the replay job was accepted before; nothing is sent,
	// and a real replay deletes a dead letter left behind.
	VerdictAlready Verdict = "already_replayed"
	// VerdictPending: the replay was sent and the gatekeeper has not
	// answered in time; the dead letter is kept. Replaying again answers
	// truthfully once it has.
	VerdictPending Verdict = "pending"
	// VerdictUnreplayable: the dead letter holds no readable request.
	VerdictUnreplayable Verdict = "unreplayable"
	// VerdictNotFound: a job named by id has no dead letter and no replay.
	VerdictNotFound Verdict = "not_found"
	// VerdictFailed: the replay could not be sent (Reason); the dead
	// letter is kept.
	VerdictFailed Verdict = "failed"
)

// Ok reports whether v is a success: replayed, would replay or replayed
// already.
func (v Verdict) Ok() bool {
	return v == VerdictWouldReplay || v == VerdictReplayed || v == VerdictAlready
}

// Item is one selected dead letter and its verdict.
type Item struct {
	// JobID is the dead-lettered job ("message:<id>" for a letter that
	// names none).
	JobID string `json:"job_id"`
	// ReplayID is the replay's job id, and Attempt the attempt sent (or
	// that would be).
	ReplayID  string          `json:"replay_id,omitempty"`
	Attempt   int             `json:"attempt,omitempty"`
	Queue     string          `json:"queue,omitempty"`
	Container string          `json:"container,omitempty"`
	Script    string          `json:"script,omitempty"`
	BatchID   string          `json:"batch_id,omitempty"`
	Outcome   schemas.Outcome `json:"outcome,omitempty"`
	FailedAt  time.Time       `json:"failed_at,omitzero"`
	Verdict   Verdict         `json:"verdict"`
	// ReasonCode and Reason say why a replay is rejected, pending, failed
	// or not possible.
	ReasonCode string `json:"reason_code,omitempty"`
	Reason     string `json:"reason,omitempty"`
	// State is the replay job's state, for replayed and already_replayed.
	State producer.JobState `json:"state,omitempty"`

	letters []*Letter
	request schemas.JobRequest
}

// Plan is the dry run: it selects the dead letters f matches and judges
// each under the policy in force, sending and deleting nothing. Every
// letter is handed back before it returns.
func (e *Engine) Plan(ctx context.Context, f Filter) (items []Item, err error) {
	s := NewScanner(e.Backend, "")
	s.Look = e.Look
	defer func() {
		if rerr := Release(ctx, s.Letters); rerr != nil && err == nil {
			err = rerr
		}
	}()
	return e.selectAndJudge(ctx, s, f)
}

// Replay replays the dead letters f matches: each the policy in force
// accepts is sent through the gatekeeper, and its dead letter deleted once
// the gatekeeper has accepted it; the others are kept, with their
// verdicts. It returns the items in the order Plan does. An error means
// the dead-letter queues or the journal could not be read; per-letter
// failures are verdicts.
func (e *Engine) Replay(ctx context.Context, f Filter) (items []Item, err error) {
	s := NewScanner(e.Backend, "")
	defer func() {
		if rerr := Release(ctx, s.Letters); rerr != nil && err == nil {
			err = rerr
		}
	}()
	items, err = e.selectAndJudge(ctx, s, f)
	if err != nil {
		return nil, err
	}
	// Hold what is to be sent or deleted; hand the rest back now.
	var held []*Letter
	for _, it := range items {
		if it.Verdict == VerdictWouldReplay || it.Verdict == VerdictAlready {
			held = append(held, it.letters...)
		}
	}
	var others []*Letter
	for _, l := range s.Letters {
		if !slices.Contains(held, l) {
			others = append(others, l)
		}
	}
	s.Letters = held
	if err := Release(ctx, others); err != nil {
		return nil, err
	}
	if err := Hold(ctx, held, HoldVisibility+e.answerWait()); err != nil {
		return nil, err
	}

	client := e.Backend.Client()
	var sent []int
	for i := range items {
		it := &items[i]
		switch it.Verdict {
		case VerdictAlready:
			// Accepted before: the letter outlived a replay that crashed
			// before deleting it.
			if err := e.remove(ctx, s, it.letters); err != nil {
				it.Reason = fmt.Sprintf("the dead letter could not be deleted: %v", err)
			}
		case VerdictWouldReplay:
			if _, err := client.ResubmitAttempt(ctx, it.request, it.Attempt, e.MaxWait); err != nil {
				it.Verdict, it.Reason = VerdictFailed, fmt.Sprintf("sending the replay: %v", err)
				e.keep(ctx, s, it.letters)
				continue
			}
			sent = append(sent, i)
		}
	}
	e.await(ctx, s, items, sent)
	return items, nil
}

// await waits for the gatekeeper's answer to each sent replay, deleting
// the dead letters of accepted ones and handing back the others.
func (e *Engine) await(ctx context.Context, s *Scanner, items []Item, sent []int) {
	deadline := e.now().Add(e.answerWait())
	poll := e.Poll
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	for len(sent) > 0 {
		var waiting []int
		for _, i := range sent {
			it := &items[i]
			hist, err := e.history(ctx, it.ReplayID)
			if err != nil {
				waiting = append(waiting, i)
				continue
			}
			switch a := answer(hist, it.Attempt); {
			case a.accepted:
				it.Verdict, it.State = VerdictReplayed, producer.Summarize(hist).State
				if err := e.remove(ctx, s, it.letters); err != nil {
					it.Reason = fmt.Sprintf("replayed, but the dead letter could not be deleted (replaying it again deletes it): %v", err)
				}
			case a.rejected != nil:
				it.Verdict = VerdictRejected
				it.ReasonCode, it.Reason = a.rejected.ReasonCode, "the gatekeeper rejected the replay: "+a.rejected.Reason
				e.keep(ctx, s, it.letters)
			default:
				waiting = append(waiting, i)
			}
		}
		sent = waiting
		if len(sent) == 0 {
			return
		}
		if ctx.Err() != nil || !e.now().Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(poll):
		}
	}
	for _, i := range sent {
		it := &items[i]
		it.Verdict, it.ReasonCode = VerdictPending, "no_answer"
		it.Reason = fmt.Sprintf("the replay was sent as %s but the gatekeeper had not answered after %s (is a pipeline serving this backend?); the dead letter is kept, and replaying it again tells whether it was accepted", it.ReplayID, e.answerWait())
		e.keep(ctx, s, it.letters)
	}
}

// remove deletes letters and forgets them.
func (e *Engine) remove(ctx context.Context, s *Scanner, letters []*Letter) error {
	s.Letters = slices.DeleteFunc(s.Letters, func(l *Letter) bool { return slices.Contains(letters, l) })
	return Remove(ctx, letters)
}

// keep hands letters back at once and forgets them.
func (e *Engine) keep(ctx context.Context, s *Scanner, letters []*Letter) {
	s.Letters = slices.DeleteFunc(s.Letters, func(l *Letter) bool { return slices.Contains(letters, l) })
	_ = Release(ctx, letters) // the hold lapses anyway
}

// selectAndJudge scans the dead-letter queues and judges every group f
// selects, oldest first; jobs named by id come in the order named.
func (e *Engine) selectAndJudge(ctx context.Context, s *Scanner, f Filter) ([]Item, error) {
	if err := s.Scan(ctx); err != nil {
		return nil, err
	}
	if f.Empty() {
		return nil, nil
	}
	if len(f.JobIDs) == 0 {
		var items []Item
		for _, g := range Groups(s.Letters) {
			if f.Match(g.Newest()) {
				it, err := e.judge(ctx, g)
				if err != nil {
					return nil, err
				}
				items = append(items, it)
			}
		}
		return items, nil
	}
	start := e.now()
	for {
		var items []Item
		missing, pending := false, false
		gs := Groups(s.Letters)
		seen := map[string]bool{}
		for _, id := range f.JobIDs {
			if seen[id] {
				continue
			}
			seen[id] = true
			if g := Find(gs, id); g != nil {
				if f.Match(g.Newest()) {
					it, err := e.judge(ctx, g)
					if err != nil {
						return nil, err
					}
					items = append(items, it)
				}
				continue
			}
			it, err := e.judgeMissing(ctx, id)
			if err != nil {
				return nil, err
			}
			missing = missing || it.Verdict == VerdictNotFound
			pending = pending || it.Verdict == VerdictPending
			items = append(items, it)
		}
		// A replay on its way is waited for as long as Replay waits for
		// an answer; a letter not found, a moment.
		deadline := start.Add(lookFor)
		if pending {
			deadline = start.Add(max(lookFor, e.answerWait()))
		}
		if (!missing && !pending) || !e.now().Before(deadline) {
			return items, nil
		}
		// Another command may hold the letter hidden for a moment.
		if err := Release(ctx, s.Letters); err != nil {
			return nil, err
		}
		s.Letters = nil
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if err := s.Scan(ctx); err != nil {
			return nil, err
		}
	}
}

// judgeMissing answers for a job named by id that has no dead letter: its
// replay was accepted already, is awaiting the gatekeeper, or there is
// nothing to replay.
func (e *Engine) judgeMissing(ctx context.Context, id string) (Item, error) {
	it := Item{JobID: id, ReplayID: producer.NextReplayID(id), Verdict: VerdictNotFound,
		ReasonCode: "no_dead_letter", Reason: fmt.Sprintf("no dead letter for job %s (see deployer dlq list)", id)}
	if it.ReplayID == "" {
		return it, nil
	}
	hist, err := e.history(ctx, it.ReplayID)
	if err != nil {
		return Item{}, err
	}
	s := producer.Summarize(hist)
	if accepted(hist) {
		it.Verdict, it.State, it.ReasonCode, it.Reason = VerdictAlready, s.State, "", ""
		it.Attempt, it.Container, it.Script, it.BatchID = s.Attempt, s.Container, s.Script, s.BatchID
		return it, nil
	}
	if len(hist) == 0 {
		// A replay creates its stream before it sends the request: one
		// that exists with nothing journaled is on its way.
		sub, err := e.Backend.Client().Streams.Subscribe(ctx, e.Backend.StreamAddress(it.ReplayID))
		switch {
		case errors.Is(err, stream.ErrNotFound):
		case err != nil:
			return Item{}, fmt.Errorf("looking for job %s: %w", it.ReplayID, err)
		default:
			_ = sub.Close()
			it.Verdict, it.ReasonCode = VerdictPending, "no_answer"
			it.Reason = fmt.Sprintf("job %s has no dead letter: its replay %s was sent and the gatekeeper has not answered yet", id, it.ReplayID)
		}
	}
	return it, nil
}

// judge decides the fate of one dead-lettered job under the policy in
// force; Plan and Replay both use it.
func (e *Engine) judge(ctx context.Context, g *Group) (Item, error) {
	l := g.Newest()
	it := Item{JobID: g.Key, Queue: l.Queue, Outcome: l.DL.Failure.Outcome, FailedAt: l.When().UTC(), letters: g.Letters}
	r := l.DL.Request
	if r == nil {
		it.Verdict, it.ReasonCode = VerdictUnreplayable, l.DL.Failure.ReasonCode
		it.Reason = fmt.Sprintf("its %s dead letter holds no readable request (%s: %s); it is left in place, see deployer dlq show %s",
			l.Queue, l.DL.Failure.ReasonCode, oneLine(l.DL.Failure.Reason), g.Key)
		return it, nil
	}
	it.Container, it.Script, it.BatchID = r.Container, r.Script, r.BatchID
	it.ReplayID = producer.NextReplayID(r.JobID)
	if it.ReplayID == "" {
		it.Verdict, it.ReasonCode = VerdictUnreplayable, "malformed_request"
		it.Reason = fmt.Sprintf("its request names %q, which is not a job id", r.JobID)
		return it, nil
	}
	hist, err := e.history(ctx, it.ReplayID)
	if err != nil {
		return Item{}, err
	}
	if accepted(hist) {
		s := producer.Summarize(hist)
		it.Verdict, it.State, it.Attempt = VerdictAlready, s.State, s.Attempt
		return it, nil
	}
	// A replay the gatekeeper rejected is tried again as the next attempt
	// of the same job: its events start over, and the id stays derived.
	it.Attempt = lastAttempt(hist) + 1
	now := e.now()
	req, err := producer.ReplayRequest(*r, it.Attempt, e.Backend.StreamAddress(it.ReplayID), now)
	if err != nil {
		it.Verdict, it.ReasonCode, it.Reason = VerdictUnreplayable, "malformed_request", err.Error()
		return it, nil
	}
	it.request = *r
	if _, err := e.Policy.Resolve(req, e.caller(l), now); err != nil {
		var rej *policy.Rejection
		if !errors.As(err, &rej) {
			return Item{}, fmt.Errorf("judging the replay of job %s: %w", g.Key, err)
		}
		it.Verdict, it.ReasonCode, it.Reason = VerdictRejected, rej.Code, rej.Message
		return it, nil
	}
	it.Verdict = VerdictWouldReplay
	return it, nil
}

// caller is the identity the replay of l is judged as.
func (e *Engine) caller(l *Letter) schemas.Identity {
	if e.Caller.Principal != "" {
		return e.Caller
	}
	if o := l.DL.Order; o != nil {
		return o.Caller
	}
	return schemas.Identity{}
}

// history reads a job's journal; a job nothing recorded has none.
func (e *Engine) history(ctx context.Context, jobID string) ([]schemas.JobEvent, error) {
	hist, err := e.Backend.Client().Journal.Read(ctx, jobID)
	if errors.Is(err, journal.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading journal of job %s: %w", jobID, err)
	}
	return hist, nil
}

// accepted reports whether the gatekeeper accepted any attempt of the job.
func accepted(hist []schemas.JobEvent) bool {
	return slices.ContainsFunc(hist, func(ev schemas.JobEvent) bool { return ev.Type == schemas.EventAccepted })
}

// lastAttempt is the highest attempt a history records, 0 for none.
func lastAttempt(hist []schemas.JobEvent) int {
	n := 0
	for _, ev := range hist {
		n = max(n, ev.Attempt)
	}
	return n
}

// gatekeeperAnswer is the gatekeeper's answer to one attempt.
type gatekeeperAnswer struct {
	accepted bool
	rejected *schemas.JobEvent
}

func answer(hist []schemas.JobEvent, attempt int) gatekeeperAnswer {
	var a gatekeeperAnswer
	for i, ev := range hist {
		if max(ev.Attempt, 1) != attempt {
			continue
		}
		switch ev.Type {
		case schemas.EventAccepted:
			a.accepted = true
		case schemas.EventRejected:
			a.rejected = &hist[i]
		}
	}
	if a.accepted {
		a.rejected = nil
	}
	return a
}

func (e *Engine) answerWait() time.Duration {
	if e.AnswerWait > 0 {
		return e.AnswerWait
	}
	return DefaultAnswerWait
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
