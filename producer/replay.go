package producer

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/deployerhq/deployer/schemas"
)

// replaySuffix marks a job id derived from another by a replay:
// "<ulid>-r<n>" is the n-th replay of the job "<ulid>".
const replaySuffix = "-r"

// ulidLen is the length of the ULID every job id starts with.
const ulidLen = 26

// ReplayID returns the id of the n-th replay (n ≥ 1) of the job original:
// the base ULID of original followed by "-r<n>". The id is derived, not
// drawn, so that two replays of the same dead letter name the same job and
// start one task (the worker runs each job id and attempt once). It returns
// "" when original is not a job id or n is not positive.
func ReplayID(original string, n int) string {
	if !schemas.ValidJobID(original) || n < 1 {
		return ""
	}
	id := original[:ulidLen] + replaySuffix + strconv.Itoa(n)
	if !schemas.ValidJobID(id) {
		return ""
	}
	return id
}

// Replays returns how many replays lie behind a job id: n for
// "<ulid>-r<n>", 0 for any other job id, -1 for something that is not a
// job id.
func Replays(id string) int {
	if !schemas.ValidJobID(id) {
		return -1
	}
	rest, ok := strings.CutPrefix(id[ulidLen:], replaySuffix)
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 1 || strconv.Itoa(n) != rest {
		return 0
	}
	return n
}

// NextReplayID returns the id a replay of the job original gets: "-r1" for
// a first run, "-r<n+1>" for the n-th replay. "" when original is not a
// job id.
func NextReplayID(original string) string {
	n := Replays(original)
	if n < 0 {
		return ""
	}
	return ReplayID(original, n+1)
}

// ReplayRequest returns the request a replay of the dead-lettered job's
// original request sends: job NextReplayID(original.JobID), the given
// attempt (1 for a first try; a try after the gatekeeper rejected the
// replay takes the next), replay_of set, on stream. Everything the caller
// asked for (container, script, arguments as they were sent, overrides,
// caller metadata, batch, trace context) is kept. Judging this request is
// judging the replay: a dry run resolves it, Resubmit sends it.
func ReplayRequest(original schemas.JobRequest, attempt int, stream string, now time.Time) (schemas.JobRequest, error) {
	id := NextReplayID(original.JobID)
	if id == "" {
		return schemas.JobRequest{}, fmt.Errorf("cannot replay %q: it is not a job id", original.JobID)
	}
	req := original
	req.Schema = ""
	req.JobID = id
	req.ReplayOf = original.JobID
	req.Attempt = max(attempt, 1)
	req.Stream = stream
	req.SubmittedAt = now.UTC()
	if err := req.Validate(); err != nil {
		return schemas.JobRequest{}, fmt.Errorf("building request for job %s: %w", id, err)
	}
	return req, nil
}

// Resubmit sends a dead-lettered job's original request through the
// request queue again, as attempt 1 of the job NextReplayID(original.JobID)
// with replay_of set: the gatekeeper validates it again under the current
// policy. See ResubmitAttempt.
func (c *Client) Resubmit(ctx context.Context, original schemas.JobRequest, maxWait time.Duration) (Job, error) {
	return c.ResubmitAttempt(ctx, original, 1, maxWait)
}

// ResubmitAttempt sends ReplayRequest(original, attempt, …) through the
// request queue. The new job's stream is created (or found) before the
// request is enqueued; a nil error means the request is queued, not that
// the gatekeeper accepted it.
func (c *Client) ResubmitAttempt(ctx context.Context, original schemas.JobRequest, attempt int, maxWait time.Duration) (Job, error) {
	id := NextReplayID(original.JobID)
	if id == "" {
		return Job{}, fmt.Errorf("cannot replay %q: it is not a job id", original.JobID)
	}
	if maxWait <= 0 {
		maxWait = DefaultMaxWait
	}
	addr, err := c.Streams.Create(ctx, id, maxWait+time.Hour)
	if err != nil {
		return Job{}, fmt.Errorf("creating stream for job %s: %w", id, err)
	}
	req, err := ReplayRequest(original, attempt, addr, c.now())
	if err != nil {
		return Job{}, err
	}
	if err := c.Enqueue(ctx, req); err != nil {
		return Job{}, err
	}
	return Job{ID: id, Stream: addr}, nil
}
