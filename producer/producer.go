package producer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/internal/lane"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/internal/tasklog"
	"github.com/deployerhq/deployer/internal/tracing"
	"github.com/deployerhq/deployer/internal/writes"
	"github.com/deployerhq/deployer/schemas"
)

// DefaultMaxWait is how long a caller follows a job by default, and so how
// long its stream is kept at least.
const DefaultMaxWait = 2 * time.Hour

// Client submits jobs and follows them.
type Client struct {
	// Requests is the request queue the gatekeeper consumes.
	Requests queue.Queue
	// Streams makes and reads job streams.
	Streams stream.Streams
	// Logs is the task log source gaps are filled from.
	Logs tasklog.Source
	// Journal holds job histories, for Status, Jobs and History.
	Journal journal.Journal
	// Lanes are the lane leases, for WaitReason to count what runs in a
	// queued job's lane. Optional: without it WaitReason cannot count.
	Lanes lane.Limiter
	// DeleteStreams deletes a job's stream once its terminal event has
	// been read. Set it for backends whose streams are not replayable
	// (SQS); replayable streams are kept until they expire so that
	// "deployer wait" can replay them.
	DeleteStreams bool
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
	// Together makes a submission's writes (the job's stream, its
	// request) one, where the backend can (see package writes). Optional.
	Together writes.Together
}

// Request is what a caller asks to run.
type Request struct {
	Container string
	Script    string
	Args      []string
	// Canary asks for a canary of Container instead of a script (see
	// schemas.JobRequest.Canary): Script, Args and the overrides stay
	// empty.
	Canary bool
	// Optional overrides; zero means the container's default.
	TaskCPU    int
	TaskMemory int
	LaunchType string
	Timeout    time.Duration
	Caller     schemas.CallerMetadata
	// BatchID and Batch put the job in a batch (see schemas.BatchSpec).
	BatchID string
	Batch   *schemas.BatchSpec
	// MaxWait is how long the caller may follow the job; the job's stream
	// is kept at least this long. Defaults to DefaultMaxWait.
	MaxWait time.Duration
	// JobID, ReplayOf and Attempt are set by replays; a new job leaves
	// them empty and gets a fresh ULID and attempt 1.
	JobID    string
	ReplayOf string
	Attempt  int
}

// Job identifies a submitted job.
type Job struct {
	ID     string
	Stream string
}

// NewJobID returns a fresh, sortable job id (a ULID).
func NewJobID() string {
	return ulid.MustNew(ulid.Now(), rand.Reader).String()
}

// NewBatchID returns a fresh batch id: schemas.BatchIDPrefix and a ULID.
func NewBatchID() string { return schemas.BatchIDPrefix + NewJobID() }

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Submit creates the job's stream, then enqueues its request, the two
// as one write where the backend can (Together). The stream exists
// before anyone can publish to it. A request larger than the
// request queue takes is refused before anything is enqueued (its stream
// is deleted again), with schemas.ErrTooLarge.
func (c *Client) Submit(ctx context.Context, r Request) (Job, error) {
	id := r.JobID
	if id == "" {
		id = NewJobID()
	}
	attempt := r.Attempt
	if attempt == 0 {
		attempt = 1
	}
	maxWait := r.MaxWait
	if maxWait <= 0 {
		maxWait = DefaultMaxWait
	}
	var job Job
	err := c.Together.Do(ctx, func(ctx context.Context) error {
		var err error
		job, err = c.submit(ctx, id, attempt, maxWait, r)
		return err
	})
	return job, err
}

// submit creates the stream of job id and enqueues its request.
func (c *Client) submit(ctx context.Context, id string, attempt int, maxWait time.Duration, r Request) (Job, error) {
	addr, err := c.Streams.Create(ctx, id, maxWait+time.Hour)
	if err != nil {
		return Job{}, fmt.Errorf("creating stream for job %s: %w", id, err)
	}
	req := schemas.JobRequest{
		JobID:       id,
		Container:   r.Container,
		Script:      r.Script,
		Args:        schemas.ArgList(r.Args...),
		Canary:      r.Canary,
		TaskCPU:     r.TaskCPU,
		TaskMemory:  r.TaskMemory,
		LaunchType:  r.LaunchType,
		Timeout:     schemas.Duration(r.Timeout),
		Stream:      addr,
		Caller:      r.Caller,
		BatchID:     r.BatchID,
		Batch:       r.Batch,
		ReplayOf:    r.ReplayOf,
		Attempt:     attempt,
		SubmittedAt: c.now().UTC(),
	}
	if err := req.Validate(); err != nil {
		return Job{}, fmt.Errorf("building request for job %s: %w", id, err)
	}
	ctx, span := enqueueSpan(ctx, &req)
	defer span.End()
	msg, err := requestMessage(ctx, req)
	if err != nil {
		// Nobody will publish to the stream: do not leave it to expire.
		if derr := c.Streams.Delete(ctx, addr); derr != nil && !errors.Is(derr, stream.ErrNotFound) {
			err = errors.Join(err, fmt.Errorf("deleting stream of job %s: %w", id, derr))
		}
		return Job{}, err
	}
	if err := c.send(ctx, req.JobID, msg); err != nil {
		return Job{}, err
	}
	return Job{ID: id, Stream: addr}, nil
}

// Enqueue sends an already built request to the request queue. A request
// larger than the queue takes is refused with schemas.ErrTooLarge before
// anything is sent.
func (c *Client) Enqueue(ctx context.Context, req schemas.JobRequest) error {
	ctx, span := enqueueSpan(ctx, &req)
	defer span.End()
	msg, err := requestMessage(ctx, req)
	if err != nil {
		return err
	}
	return c.send(ctx, req.JobID, msg)
}

// requestMessage encodes req as the message that carries it, with ctx's
// trace context in its attributes, checked against the request queue's
// size limit as the queue adapters count it (body and attributes).
func requestMessage(ctx context.Context, req schemas.JobRequest) (queue.Outgoing, error) {
	body, err := req.Encode()
	if err != nil {
		return queue.Outgoing{}, fmt.Errorf("encoding request for job %s: %w", req.JobID, err)
	}
	msg := queue.Outgoing{
		Body:       body,
		Attributes: map[string]string{"job_id": req.JobID, "schema": schemas.JobRequestV1},
	}
	tracing.Inject(ctx, msg.Attributes)
	if size := queue.Size(msg); size > queue.MaxBodySize {
		return queue.Outgoing{}, fmt.Errorf(
			"request for job %s would be %d bytes; the request queue takes at most %d bytes: shorten the arguments: %w",
			req.JobID, size, queue.MaxBodySize, schemas.ErrTooLarge)
	}
	return msg, nil
}

func (c *Client) send(ctx context.Context, jobID string, msg queue.Outgoing) error {
	if _, err := c.Requests.Send(ctx, msg); err != nil {
		return fmt.Errorf("enqueueing request for job %s: %w", jobID, err)
	}
	return nil
}

// Status returns the job's history from the journal, oldest first.
// journal.ErrNotFound means nothing has handled the job yet (or it does
// not exist).
func (c *Client) Status(ctx context.Context, jobID string) ([]schemas.JobEvent, error) {
	evs, err := c.Journal.Read(ctx, jobID)
	if err != nil {
		if errors.Is(err, journal.ErrNotFound) {
			return nil, fmt.Errorf("job %s: %w", jobID, err)
		}
		return nil, fmt.Errorf("reading journal of job %s: %w", jobID, err)
	}
	return evs, nil
}

// Terminal returns the last terminal event of a history, if any.
func Terminal(history []schemas.JobEvent) (schemas.JobEvent, bool) {
	for i := len(history) - 1; i >= 0; i-- {
		if history[i].Type.Terminal() {
			return history[i], true
		}
	}
	return schemas.JobEvent{}, false
}

// Replay delivers the complete output of every attempt of a finished or
// running job from its journal and the task log source, and returns the
// job's history. It is how "deployer logs" and "deployer wait" show a job
// whose stream is gone.
func (c *Client) Replay(ctx context.Context, jobID string, onLine func(attempt int, l schemas.LogLine)) ([]schemas.JobEvent, error) {
	history, err := c.Status(ctx, jobID)
	if err != nil {
		return nil, err
	}
	tasks := map[int]string{}
	var attempts []int
	for _, ev := range history {
		if ev.TaskID == "" {
			continue
		}
		if _, ok := tasks[ev.Attempt]; !ok {
			attempts = append(attempts, ev.Attempt)
		}
		tasks[ev.Attempt] = ev.TaskID
	}
	for _, a := range attempts {
		var (
			after int64 // every line up to it was delivered
			parts []schemas.LogLine
		)
		for {
			lines, err := c.Logs.Read(ctx, tasks[a], after, 1000)
			if err != nil && !errors.Is(err, tasklog.ErrNotFound) {
				return nil, fmt.Errorf("reading output of task %s: %w", tasks[a], err)
			}
			parts = parts[:0] // a read starts at a line's first part
			for _, l := range lines {
				switch {
				case l.End != nil:
				case l.More:
					parts = append(parts, l)
					continue
				case len(parts) > 0:
					l = joinParts(append(parts, l))
					parts = parts[:0]
					fallthrough
				default:
					onLine(a, l)
				}
				after = l.Seq
			}
			if len(lines) < 1000 {
				break
			}
		}
	}
	return history, nil
}

// joinParts makes one line of the parts of a split line, in order.
func joinParts(parts []schemas.LogLine) schemas.LogLine {
	l := parts[0]
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	l.Text, l.Part, l.More = b.String(), 0, false
	return l
}
