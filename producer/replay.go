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

// Resubmit sends a dead-lettered job's original request through the
// request queue again, as attempt 1 of the job NextReplayID(original.JobID)
// with replay_of set: the gatekeeper validates it again under the current
// policy. Everything the caller asked for (container, script, arguments as
// they were sent, overrides, caller metadata, trace context) is kept. The
// new job's stream is created before the request is enqueued; a nil error
// means the request is queued.
func (c *Client) Resubmit(ctx context.Context, original schemas.JobRequest, maxWait time.Duration) (Job, error) {
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
	req := original
	req.Schema = ""
	req.JobID = id
	req.ReplayOf = original.JobID
	req.Attempt = 1
	req.Stream = addr
	req.SubmittedAt = c.now().UTC()
	if err := req.Validate(); err != nil {
		return Job{}, fmt.Errorf("building request for job %s: %w", id, err)
	}
	if err := c.Enqueue(ctx, req); err != nil {
		return Job{}, err
	}
	return Job{ID: id, Stream: addr}, nil
}
