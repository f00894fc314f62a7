package schemas

import (
	"encoding/json"
	"fmt"
	"time"
)

// EventType is the kind of a job event.
type EventType string

// Event types, in the order a job normally produces them.
const (
	EventAccepted     EventType = "accepted"      // gatekeeper: request passed policy
	EventRejected     EventType = "rejected"      // gatekeeper: request refused (terminal)
	EventQueued       EventType = "queued"        // gatekeeper: run order enqueued
	EventStarting     EventType = "starting"      // worker: took the order, starting the task
	EventStarted      EventType = "started"       // worker: the task is running
	EventLog          EventType = "log"           // logshipper: lines of task output
	EventHeartbeat    EventType = "heartbeat"     // worker: still tracking the task
	EventFinished     EventType = "finished"      // worker: the task ran and exited (terminal)
	EventFailed       EventType = "failed"        // worker: timed out, could not start, lost (terminal)
	EventCancelled    EventType = "cancelled"     // worker/gatekeeper: cancelled (terminal)
	EventDeadLettered EventType = "dead_lettered" // worker: the job went to the dead-letter queue

	// EventCancelRequested is journaled by the gatekeeper when it accepts
	// a cancel request; a worker about to start the job's task reads it
	// and ends the job cancelled instead.
	EventCancelRequested EventType = "cancel_requested"
	// EventCancelAccepted and EventCancelRejected answer a cancel request
	// on its reply stream. They are never terminal, so one that reached a
	// job's own stream could not end it.
	EventCancelAccepted EventType = "cancel_accepted"
	EventCancelRejected EventType = "cancel_rejected"
	// EventDescribed answers a describe request on its reply stream with
	// what the caller may run (Containers).
	EventDescribed EventType = "described"
)

// Terminal reports whether t ends a job's stream.
func (t EventType) Terminal() bool {
	switch t {
	case EventRejected, EventFinished, EventFailed, EventCancelled:
		return true
	}
	return false
}

// Valid reports whether t is a known event type.
func (t EventType) Valid() bool {
	switch t {
	case EventAccepted, EventRejected, EventQueued, EventStarting, EventStarted, EventLog,
		EventHeartbeat, EventFinished, EventFailed, EventCancelled, EventDeadLettered,
		EventCancelRequested, EventCancelAccepted, EventCancelRejected, EventDescribed:
		return true
	}
	return false
}

// Outcome is how a job ended, carried by its terminal event.
type Outcome string

// Outcomes. Each maps to one documented exit code of "deployer run".
const (
	OutcomeSucceeded     Outcome = "succeeded"       // the task exited 0
	OutcomeFailed        Outcome = "failed"          // the task exited non-zero
	OutcomeRejected      Outcome = "rejected"        // refused by policy
	OutcomeTimedOut      Outcome = "timed_out"       // stopped at its timeout
	OutcomeCancelled     Outcome = "cancelled"       // cancelled on request
	OutcomeCouldNotStart Outcome = "could_not_start" // the task never ran
	OutcomeLost          Outcome = "lost"            // contact with the task was lost
)

// LogLine is one line of task output, as the task wrote it (without the
// trailing newline), or one part of a line too long to travel whole, or
// the end of the task's log.
type LogLine struct {
	// Seq is the line's 1-based position in the task's output (see
	// TaskRecord); it orders lines and detects duplicates and gaps. It is
	// 0 for a line of an image whose entrypoint is not deployer-task, as
	// a CloudWatch Logs subscription delivers it: such a line has an ID to
	// dedupe by, and no place in the order.
	Seq int64 `json:"seq"`
	// Part numbers the parts of a split line from 1 (0: the whole line);
	// More is set on every part but the last. A reader joins the parts of
	// a seq in part order.
	Part int  `json:"part,omitempty"`
	More bool `json:"more,omitempty"`
	// ID is the task log source's own id for the line (a CloudWatch event
	// id on AWS).
	ID   string    `json:"id,omitempty"`
	Time time.Time `json:"time"`
	Text string    `json:"text"`
	// End is set on the record that closes the task's log (its Seq is
	// the last line's plus one); it carries no text.
	End *LogEnd `json:"end,omitempty"`
}

// validate checks the line's own shape.
func (l *LogLine) validate() error {
	switch {
	case l.Seq < 0:
		return fmt.Errorf("%w: seq %d, want at least 1", ErrMalformed, l.Seq)
	case l.Seq == 0 && l.ID == "":
		return fmt.Errorf("%w: a line has neither a seq nor an id", ErrMalformed)
	case l.Part < 0:
		return fmt.Errorf("%w: line %d has part %d, want at least 0", ErrMalformed, l.Seq, l.Part)
	case l.More && l.Part == 0:
		return fmt.Errorf("%w: line %d says more parts follow but has no part number", ErrMalformed, l.Seq)
	case l.End != nil && (l.Seq == 0 || l.Part != 0 || l.Text != ""):
		return fmt.Errorf("%w: the end record has seq %d, part %d and %d bytes of text; want a seq, no part and no text", ErrMalformed, l.Seq, l.Part, len(l.Text))
	case l.End != nil && l.End.Lines != l.Seq-1:
		return fmt.Errorf("%w: the end record at seq %d counts %d lines, want %d", ErrMalformed, l.Seq, l.End.Lines, l.Seq-1)
	}
	return nil
}

// JobEvent is one entry of a job's stream.
type JobEvent struct {
	Schema string `json:"schema"`
	JobID  string `json:"job_id"`
	// ID identifies the event; a redelivered or republished event carries
	// the same id, so followers drop duplicates by it.
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	Type    EventType `json:"type"`
	Source  string    `json:"source,omitempty"`
	Attempt int       `json:"attempt,omitempty"`

	// accepted: what will run.
	Container string   `json:"container,omitempty"`
	Script    string   `json:"script,omitempty"`
	Argv      []string `json:"argv,omitempty"`
	// Canary marks the accepted and rejected events of a canary (see
	// JobRequest.Canary): Script is empty, the task runs CanaryCommand.
	Canary bool `json:"canary,omitempty"`
	// Lane is the job's concurrency lane and LaneLimit how many of its
	// jobs run at once, on accepted events.
	Lane      string `json:"lane,omitempty"`
	LaneLimit int    `json:"lane_limit,omitempty"`
	// BatchID and Batch name the job's batch, on the accepted and
	// rejected events of a batch's jobs; BatchID is on every event of
	// theirs that a batch's journal holds.
	BatchID string     `json:"batch_id,omitempty"`
	Batch   *BatchSpec `json:"batch,omitempty"`
	// Principal is the verified caller: who asked for the job on accepted
	// events, who asked to cancel it on cancel_requested events.
	Principal string `json:"principal,omitempty"`
	// PolicyDigest names the policy (see policy.Policy.Digest,
	// "sha256:" and 12 hex digits) a job was decided under, on the
	// gatekeeper's accepted and rejected events, and the policy in force
	// on described events.
	PolicyDigest string `json:"policy_digest,omitempty"`

	// started: the task that runs the job.
	TaskID string `json:"task_id,omitempty"`

	// log: lines in task order.
	Lines []LogLine `json:"lines,omitempty"`
	// LogTo, on a log event without lines, says where the lines are
	// rather than carrying them: the task log source (tasklog.Source)
	// holds TaskID's lines up to this seq, to be read from there. The
	// embedded backend, whose task log is on the same host, streams
	// these; the AWS backend streams the lines themselves.
	LogTo int64 `json:"log_to,omitempty"`

	// Terminal events, rejected and dead_lettered: how and why.
	Outcome    Outcome `json:"outcome,omitempty"`
	ExitCode   *int    `json:"exit_code,omitempty"`
	Reason     string  `json:"reason,omitempty"`
	ReasonCode string  `json:"reason_code,omitempty"`
	// LogEvents is how many lines the task produced, on terminal events of
	// jobs whose task ran, so a follower knows when it has them all.
	LogEvents *int64 `json:"log_events,omitempty"`
	// Duration is how long the task ran, on terminal events.
	Duration Duration `json:"duration,omitempty"`
	// DeadLettered is set on the terminal event of an attempt that moved
	// the job to the dead-letter queue. The dead_lettered event comes
	// first, but a stream need not deliver it first (SQS hides a message
	// whose receive answer was lost), so the terminal event says it too.
	DeadLettered bool `json:"dead_lettered,omitempty"`

	// Containers answers a describe request (described events).
	Containers []ContainerInfo `json:"containers,omitempty"`
	// Features says, on described events, what the gatekeeper that
	// answered can do beyond running scripts (FeatureCanary), so that a
	// caller does not send what an older one refuses.
	Features []string `json:"features,omitempty"`
}

// FeatureCanary is the Features entry of a gatekeeper that runs canaries
// (JobRequest.Canary).
const FeatureCanary = "canary"

// Validate checks the event's own shape.
func (e *JobEvent) Validate() error {
	switch {
	case !ValidJobID(e.JobID):
		return fmt.Errorf("%w: job_id %q is not a valid job id", ErrMalformed, e.JobID)
	case e.ID == "":
		return fmt.Errorf("%w: event id is empty", ErrMalformed)
	case !e.Type.Valid():
		return fmt.Errorf("%w: unknown event type %q", ErrMalformed, e.Type)
	case e.Type.Terminal() && e.Outcome == "":
		return fmt.Errorf("%w: terminal event %s has no outcome", ErrMalformed, e.Type)
	case e.LogTo < 0 || (e.LogTo > 0 && (e.Type != EventLog || e.TaskID == "")):
		return fmt.Errorf("%w: log_to %d on a %s event of task %q; want a log event with a task id", ErrMalformed, e.LogTo, e.Type, e.TaskID)
	}
	for i, l := range e.Lines {
		if err := l.validate(); err != nil {
			return fmt.Errorf("line %d: %w", i, err)
		}
	}
	return nil
}

// Encode sets the schema and encodes the event.
func (e JobEvent) Encode() ([]byte, error) {
	e.Schema = JobEventV1
	return json.Marshal(e)
}

// DecodeJobEvent decodes and validates a job event.
func DecodeJobEvent(data []byte) (JobEvent, error) {
	var e JobEvent
	if err := decode(data, JobEventV1, &e); err != nil {
		return JobEvent{}, err
	}
	return e, e.Validate()
}
