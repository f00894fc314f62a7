package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/deployerhq/deployer/internal/replay"
	"github.com/deployerhq/deployer/schemas"
)

// DeadLetterQueue names one of a deployment's two dead-letter queues.
type DeadLetterQueue string

// The dead-letter queues.
const (
	// RunDeadLetters holds the jobs whose task failed, timed out, could
	// not start or was lost (as the script's dead_letter_on says).
	RunDeadLetters DeadLetterQueue = "run"
	// RequestDeadLetters holds the requests the gatekeeper could not
	// read or handle.
	RequestDeadLetters DeadLetterQueue = "request"
)

// DeadLetter is one dead-lettered job: the newest of its letters (a job
// can be dead-lettered more than once, by a worker that crashed between
// sending the letter and deleting the run order) and how many it has.
type DeadLetter struct {
	// JobID is the job; empty for a letter that names none (unreadable).
	JobID string `json:"job_id,omitempty"`
	// MessageID is the queue's id of the newest letter.
	MessageID string `json:"message_id"`
	// Queue is the dead-letter queue it is in.
	Queue DeadLetterQueue `json:"queue"`
	// FailedAt is when the job failed (when the letter was sent, for a
	// message the queue moved there by itself).
	FailedAt time.Time `json:"failed_at"`
	// Count is how many letters the job has in that queue.
	Count int `json:"count"`
	// Letter is the newest letter: the original request and run order,
	// and the failure (reason, exit code, attempts).
	Letter schemas.DeadLetter `json:"letter"`
}

// Replayable reports whether the letter holds a request to replay.
func (d DeadLetter) Replayable() bool { return d.Letter.Request != nil }

// DeadLetterOptions select the dead letters DeadLetters reads.
type DeadLetterOptions struct {
	// Queue is the one queue to read; "" reads both.
	Queue DeadLetterQueue
	// NoReceive reads only queues that can be read without receiving
	// their letters (the embedded backend's); on SQS, receiving hides
	// each letter for 2 seconds from a replay under way elsewhere, so
	// with NoReceive DeadLetters fails there with ErrWouldReceive and
	// reads nothing.
	NoReceive bool
}

// DeadLetters lists the dead-lettered jobs, one entry per job, the job
// that failed longest ago first. It consumes nothing: on the embedded
// backend the queues are read without receiving; on SQS the letters are
// received and handed back at once.
func (c *Client) DeadLetters(ctx context.Context, o DeadLetterOptions) ([]DeadLetter, error) {
	if err := checkQueue(o.Queue); err != nil {
		return nil, err
	}
	var out []DeadLetter
	err := c.lookAtLetters(ctx, o.Queue, o.NoReceive, func(gs []*replay.Group) {
		for _, g := range gs {
			out = append(out, deadLetter(g))
		}
	})
	return out, err
}

// DeadLetter returns a job's dead letter. ErrNotFound when it has none.
func (c *Client) DeadLetter(ctx context.Context, jobID string) (DeadLetter, error) {
	var (
		d     DeadLetter
		found bool
	)
	err := c.lookAtLetters(ctx, "", false, func(gs []*replay.Group) {
		if g := replay.Find(gs, jobID); g != nil {
			d, found = deadLetter(g), true
		}
	})
	if err == nil && !found {
		err = fmt.Errorf("no dead letter for job %s in the %s: %w", jobID, c.Where(), ErrNotFound)
	}
	return d, err
}

// lookAtLetters reads the dead letters of which ("" both) without
// consuming them and hands fn their groups; every letter is handed back
// before it returns.
func (c *Client) lookAtLetters(ctx context.Context, which DeadLetterQueue, noReceive bool, fn func([]*replay.Group)) (err error) {
	s := replay.NewScanner(c.b, string(which))
	s.Look = true
	if noReceive && !s.CanLook() {
		return fmt.Errorf("reading the dead letters of the %s: %w", c.Where(), ErrWouldReceive)
	}
	defer func() {
		if rerr := replay.Release(ctx, s.Letters); rerr != nil && err == nil {
			err = rerr
		}
	}()
	if err := s.Scan(ctx); err != nil {
		return err
	}
	fn(replay.Groups(s.Letters))
	return nil
}

func deadLetter(g *replay.Group) DeadLetter {
	l := g.Newest()
	return DeadLetter{
		JobID: l.DL.JobID, MessageID: l.Msg.ID, Queue: DeadLetterQueue(l.Queue),
		FailedAt: l.When().UTC(), Count: len(g.Letters), Letter: l.DL,
	}
}

func checkQueue(q DeadLetterQueue) error {
	switch q {
	case "", RunDeadLetters, RequestDeadLetters:
		return nil
	}
	return fmt.Errorf("dead-letter queue %q: want %q or %q", q, RunDeadLetters, RequestDeadLetters)
}

// PurgeOptions select the dead letters PurgeDeadLetters deletes.
type PurgeOptions struct {
	// Queue is the one queue to purge; "" purges both.
	Queue DeadLetterQueue
	// Before keeps the letters of jobs that failed at or after it; zero
	// deletes every letter.
	Before time.Time
}

// PurgeDeadLetters deletes dead letters for good, without replaying them,
// and returns how many it deleted.
func (c *Client) PurgeDeadLetters(ctx context.Context, o PurgeOptions) (n int, err error) {
	if err := checkQueue(o.Queue); err != nil {
		return 0, err
	}
	s := replay.NewScanner(c.b, string(o.Queue))
	defer func() {
		if rerr := replay.Release(ctx, s.Letters); rerr != nil && err == nil {
			err = rerr
		}
	}()
	if err := s.Scan(ctx); err != nil {
		return 0, err
	}
	var old, kept []*replay.Letter
	for _, l := range s.Letters {
		if o.Before.IsZero() || l.When().Before(o.Before) {
			old = append(old, l)
		} else {
			kept = append(kept, l)
		}
	}
	s.Letters = kept
	if err := replay.Remove(ctx, old); err != nil {
		return 0, err
	}
	return len(old), nil
}

// DeadLetterFilter selects dead letters to replay. JobIDs names jobs; the
// other fields select by what a letter's request says, and narrow JobIDs
// when both are given. A filter that sets nothing selects nothing: All
// selects every letter.
type DeadLetterFilter struct {
	JobIDs    []string
	All       bool
	Container string
	Script    string
	BatchID   string
	// Since keeps jobs that failed at or after it.
	Since time.Time
}

// Empty reports whether f selects nothing.
func (f DeadLetterFilter) Empty() bool { return f.replay().Empty() }

func (f DeadLetterFilter) replay() replay.Filter {
	return replay.Filter{JobIDs: f.JobIDs, All: f.All, Container: f.Container, Script: f.Script, BatchID: f.BatchID, Since: f.Since}
}

// DefaultAnswerWait is how long ReplayDeadLetters waits for the
// gatekeeper to answer the replays it sent, unless ReplayOptions says
// otherwise.
const DefaultAnswerWait = time.Minute

// Policy judges a request as the gatekeeper will. *policy.Policy, from
// package github.com/deployerhq/deployer/gatekeeper/policy (policy.Load
// of the configuration in force), is one; a refusal is a
// *policy.Rejection.
type Policy interface {
	Resolve(req schemas.JobRequest, caller schemas.Identity, now time.Time) (schemas.RunOrder, error)
}

// ReplayOptions tune ReplayDeadLetters.
type ReplayOptions struct {
	// Policy is the policy in force, which judges each replay before it
	// is sent, so that a replay it would reject is not sent and its
	// letter is kept. Required. The gatekeeper judges again what is sent.
	Policy Policy
	// DryRun judges and reports, sending and deleting nothing; on the
	// embedded backend it reads the letters without receiving them, so
	// it works on a state directory opened read-only.
	DryRun bool
	// MaxWait is how long the replays' streams are kept for followers.
	// Defaults to DefaultMaxWait.
	MaxWait time.Duration
	// AnswerWait bounds the wait for the gatekeeper to accept or reject
	// what was sent. Defaults to DefaultAnswerWait (a minute).
	AnswerWait time.Duration
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

// Verdict is what happens, or would happen, to one dead letter a replay
// selects. Its Ok method reports whether the verdict is a success:
// replayed, would replay or replayed already.
type Verdict = replay.Verdict

// Verdicts, as the engine spells them on the wire. Only VerdictReplayed
// and VerdictAlready delete the letter.
const (
	// VerdictWouldReplay ("would_replay", dry run): the policy in force
	// accepts the replay.
	VerdictWouldReplay = replay.VerdictWouldReplay
	// VerdictReplayed ("replayed"): the gatekeeper accepted the replay;
	// the letter is deleted.
	VerdictReplayed = replay.VerdictReplayed
	// VerdictRejected ("rejected"): the policy in force (or the
	// gatekeeper) rejects the replay; the letter is kept. The reason
	// says why.
	VerdictRejected = replay.VerdictRejected
	// VerdictAlready ("already_replayed"): the replay was accepted
	// before: nothing is sent, and a letter left behind is deleted.
	VerdictAlready = replay.VerdictAlready
	// VerdictPending ("pending"): the replay was sent and the gatekeeper
	// had not answered within AnswerWait; the letter is kept, and
	// replaying again answers truthfully once it has.
	VerdictPending = replay.VerdictPending
	// VerdictUnreplayable ("unreplayable"): the letter holds no readable
	// request.
	VerdictUnreplayable = replay.VerdictUnreplayable
	// VerdictNotFound ("not_found"): a job named by id has no dead letter
	// and no replay.
	VerdictNotFound = replay.VerdictNotFound
	// VerdictFailed ("failed"): the replay could not be sent; the letter
	// is kept.
	VerdictFailed = replay.VerdictFailed
)

// ReplayItem is one dead letter a replay selected, and its verdict.
type ReplayItem struct {
	// JobID is the dead-lettered job ("message:<id>" for a letter that
	// names none).
	JobID string `json:"job_id"`
	// ReplayID is the replay's job id (the original's with "-r1", or
	// "-r2" for a replay of a replay: replaying twice starts one task),
	// and Attempt the attempt sent or that would be.
	ReplayID  string          `json:"replay_id,omitempty"`
	Attempt   int             `json:"attempt,omitempty"`
	Queue     DeadLetterQueue `json:"queue,omitempty"`
	Container string          `json:"container,omitempty"`
	Script    string          `json:"script,omitempty"`
	BatchID   string          `json:"batch_id,omitempty"`
	Outcome   schemas.Outcome `json:"outcome,omitempty"`
	FailedAt  time.Time       `json:"failed_at,omitzero"`
	Verdict   Verdict         `json:"verdict"`
	// ReasonCode and Reason say why a replay is rejected, pending,
	// failed or not possible.
	ReasonCode string `json:"reason_code,omitempty"`
	Reason     string `json:"reason,omitempty"`
	// State is the replay job's state, for replayed and already replayed.
	State JobState `json:"state,omitempty"`
}

// ReplayDeadLetters sends the original request of each dead letter f
// selects through the gatekeeper again, as a new job whose id derives
// from the original's, and returns a verdict per selected job: oldest
// failure first, or in the order JobIDs names them. The policy in force
// (o.Policy) judges each first; a letter is deleted only once the
// gatekeeper has accepted its replay, and kept otherwise. Replays go to
// the gatekeeper like any request: on the embedded backend something must
// serve the state directory to answer them. An error means the
// dead-letter queues or the journal could not be read; what became of
// each letter is its verdict. With o.DryRun nothing is sent or deleted.
func (c *Client) ReplayDeadLetters(ctx context.Context, f DeadLetterFilter, o ReplayOptions) ([]ReplayItem, error) {
	if o.Policy == nil {
		return nil, errors.New("replaying dead letters: no policy to judge them by: set ReplayOptions.Policy (policy.Load of the configuration in force)")
	}
	// A dry run looks at the letters where the queue allows it (the
	// embedded backend's), so that it changes nothing, works on a state
	// directory opened read-only and hides no letter from a replay under
	// way elsewhere.
	e := &replay.Engine{Backend: c.b, Policy: o.Policy, Caller: c.caller, MaxWait: o.MaxWait, AnswerWait: o.AnswerWait, Now: o.Now, Look: o.DryRun}
	rf := f.replay()
	run := e.Replay
	if o.DryRun {
		run = e.Plan
	}
	items, err := run(ctx, rf)
	if err != nil {
		return nil, err
	}
	out := make([]ReplayItem, len(items))
	for i, it := range items {
		out[i] = ReplayItem{
			JobID: it.JobID, ReplayID: it.ReplayID, Attempt: it.Attempt, Queue: DeadLetterQueue(it.Queue),
			Container: it.Container, Script: it.Script, BatchID: it.BatchID, Outcome: it.Outcome,
			FailedAt: it.FailedAt, Verdict: it.Verdict, ReasonCode: it.ReasonCode, Reason: it.Reason,
			State: it.State,
		}
	}
	return out, nil
}
