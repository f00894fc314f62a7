package client

import (
	"context"
	"sync"
	"time"

	"github.com/deployerhq/deployer/client/internal/link"
	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/embedded"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// Backend names, as Client.Backend reports them.
const (
	BackendEmbedded = "embedded"
	BackendAWS      = "aws"
)

// Client submits jobs to one deployment and reads what it knows of them.
// Open one with OpenEmbedded, or with awsclient.Open (package
// client/awsclient). A Client is safe for concurrent
// use; Close it when done.
type Client struct {
	b backend.Backend
	p *producer.Client
	// eb is the embedded backend; nil on AWS.
	eb *embedded.Backend
	// caller is who the gatekeeper verifies what this client sends as,
	// when the client can know it (the embedded backend's OS user); zero
	// on AWS, where IAM decides.
	caller schemas.Identity
	// supervisorGiven is set when EmbeddedOptions.Executable named the
	// program tasks are supervised by (see Serve).
	supervisorGiven bool

	closeOnce sync.Once
	closeErr  error
}

func newClient(b backend.Backend) *Client {
	return &Client{b: b, p: b.Client()}
}

func init() {
	link.NewClient = func(b backend.Backend) any { return newClient(b) }
	link.RunTaskProcess = runTaskProcess
}

// Close releases the client: the state directory's database, on the
// embedded backend. Jobs it submitted keep running. Close is idempotent.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.b.Close() })
	return c.closeErr
}

// Backend names the backend: BackendEmbedded or BackendAWS.
func (c *Client) Backend() string {
	if c.eb != nil {
		return BackendEmbedded
	}
	return BackendAWS
}

// Where names the deployment in messages ("state directory /x", "AWS
// deployment in us-east-1 with prefix "deployer-"").
func (c *Client) Where() string { return c.b.Where() }

// StateDir is the embedded backend's state directory (absolute); "" on
// AWS.
func (c *Client) StateDir() string {
	if c.eb == nil {
		return ""
	}
	return c.eb.Dir
}

// ReadOnly reports whether the client only reads: an embedded state
// directory opened with EmbeddedOptions.ReadOnly. Submitting, cancelling
// and changing dead letters fail on it.
func (c *Client) ReadOnly() bool { return c.eb != nil && c.eb.ReadOnly }

// Served reports whether a pipeline serves the deployment now, so that
// what is submitted gets decided and run: always on AWS (the deployment
// is its pipeline); on the embedded backend, whether a "deployer up" or a
// Client.Serve (in any process) serves the state directory.
func (c *Client) Served() (bool, error) { return c.b.Served() }

// Submit sends a request for a job and returns the job: its id (a fresh
// ULID unless r.JobID is set) and its stream, which exists before the
// request can be read, so that nothing of the job is missed. Submit does
// not wait for the gatekeeper: a rejection arrives as the job's terminal
// event (Follow). A request larger than the request queue takes fails
// with schemas.ErrTooLarge before anything is sent.
func (c *Client) Submit(ctx context.Context, r Request) (Job, error) {
	return c.p.Submit(ctx, r)
}

// SubmitBatch submits every job of a batch under one fresh batch id, in
// order, and returns the id and the jobs. A batch is submitted whole or
// not at all: when a job cannot be submitted, those already submitted are
// cancelled and the error says what became of them.
func (c *Client) SubmitBatch(ctx context.Context, r BatchRequest) (batchID string, jobs []Job, err error) {
	return c.p.SubmitBatch(ctx, r)
}

// Follow reads a job's events until it ends, delivering each line of its
// task's output once and in order (o.OnLine) and every other event
// (o.OnEvent, the terminal event last), and returns how it ended. A job
// that ended before Follow was called, or whose stream another follower
// consumed, is finished from its history, after the lines already
// delivered. It fails with ErrStreamGone when the job's stream is gone and
// its history holds no end (an unknown job, or one whose stream expired
// before it ended), and with ctx's error when ctx ends first: the job
// itself keeps running.
func (c *Client) Follow(ctx context.Context, jobID string, o FollowOptions) (FollowResult, error) {
	return c.p.Follow(ctx, Job{ID: jobID, Stream: c.b.StreamAddress(jobID)}, o)
}

// Cancel asks the gatekeeper to cancel a job and returns its answer: a
// queued job never starts; a running one is stopped and ends cancelled
// (follow it to see). The gatekeeper decides who may cancel what;
// Cancel returns ctx's error when it has not answered before ctx ends.
func (c *Client) Cancel(ctx context.Context, jobID string, o CancelOptions) (CancelAnswer, error) {
	return c.p.Cancel(ctx, jobID, o)
}

// Describe asks the gatekeeper what the caller may run: the containers,
// their scripts and options, and the policy in force. caller is
// informational (CallerFromEnv); the gatekeeper answers for the identity
// it verified. A gatekeeper that refuses the caller fails it with
// ErrDescribeRejected. Bound ctx: nothing answers a deployment that is
// not served.
func (c *Client) Describe(ctx context.Context, caller schemas.CallerMetadata) (Description, error) {
	return c.p.DescribePolicy(ctx, caller)
}

// History returns a job's events from its journal, oldest first: every
// decision, start, retry and end, without its output (see Logs).
// ErrNotFound when nothing has recorded the job yet.
func (c *Client) History(ctx context.Context, jobID string) ([]schemas.JobEvent, error) {
	h, err := c.p.Status(ctx, jobID)
	return h, notFound(err)
}

// Status returns where a job is (Summarize of its History). ErrNotFound
// when nothing has recorded the job yet.
func (c *Client) Status(ctx context.Context, jobID string) (JobSummary, error) {
	s, err := c.p.Job(ctx, jobID)
	return s, notFound(err)
}

// Jobs lists the jobs f keeps, newest first. A filter naming a batch
// the backend has no record of fails with ErrNotFound.
func (c *Client) Jobs(ctx context.Context, f JobFilter) ([]JobSummary, error) {
	jobs, err := c.p.Jobs(ctx, f)
	return jobs, notFound(err)
}

// Logs delivers the complete output of every attempt of a job so far,
// from the task log, to onLine (each line once, in order, attempt by
// attempt), and returns the job's history. It reads what is stored and
// returns: Follow waits for more. ErrNotFound when nothing has recorded
// the job.
func (c *Client) Logs(ctx context.Context, jobID string, onLine func(attempt int, line schemas.LogLine)) ([]schemas.JobEvent, error) {
	if onLine == nil {
		onLine = func(int, schemas.LogLine) {}
	}
	h, err := c.p.Replay(ctx, jobID, onLine)
	return h, notFound(err)
}

// WaitReason says in one line why a queued job has not started: its lane
// is full ("lane ami: 3 of 3 running, 7th in line") or nothing has taken
// it yet. It returns "" for a job that is not queued.
func (c *Client) WaitReason(ctx context.Context, s JobSummary) (string, error) {
	return c.p.WaitReason(ctx, s)
}

// Batch returns a batch as its journal tells it. ErrNotFound when the
// backend has no record of it.
func (c *Client) Batch(ctx context.Context, batchID string) (Batch, error) {
	b, _, err := c.p.ReadBatch(ctx, batchID)
	return b, notFound(err)
}

// Batches lists the most recent batches, newest first, at most limit.
func (c *Client) Batches(ctx context.Context, limit int) ([]Batch, error) {
	return c.p.Batches(ctx, limit)
}

// FollowBatch reads a batch every interval until all its jobs have
// ended, calling onUpdate with the batch and the events new since the
// last read, and onError with a failed read (it keeps trying); a batch
// the backend has no word of yet is waited for. It returns the ended
// batch, or ctx's error. every <= 0 reads every 250ms on the embedded
// backend and every 10s on AWS, whose journal reads are limited per
// account.
func (c *Client) FollowBatch(ctx context.Context, batchID string, every time.Duration,
	onUpdate func(Batch, []schemas.JobEvent), onError func(error)) (Batch, error) {
	if every <= 0 {
		every = producer.BatchPollAWS
		if c.eb != nil {
			every = producer.BatchPollEmbedded
		}
	}
	if onUpdate == nil {
		onUpdate = func(Batch, []schemas.JobEvent) {}
	}
	if onError == nil {
		onError = func(error) {}
	}
	return c.p.FollowBatch(ctx, batchID, every, onUpdate, onError)
}
