package producer

import (
	"context"
	"fmt"
	"time"
)

// PositionWindow bounds the jobs WaitReason looks at to place a queued job
// in its lane's line: those submitted up to this long before it, at most
// PositionScan of them. A job queued for longer than that is not counted.
const (
	PositionWindow = 24 * time.Hour
	PositionScan   = 1000
)

// WaitReason says why a queued job has not started, in one line: its lane
// is full ("lane ami: 3 of 3 running, 7th in line") or has room, so the
// job waits for a worker ("lane ami: 1 of 3 running; waiting for a worker
// to take it — is a pipeline serving?"); a canary, which takes no lane
// slot, only ever waits for a worker. Its place in line is 1 + the
// queued jobs of its lane (not canaries) with smaller ids (older) submitted within
// PositionWindow before it; "position unknown" when more than
// PositionScan jobs were submitted in that window. It returns "" for a
// job that is not queued.
func (c *Client) WaitReason(ctx context.Context, s JobSummary) (string, error) {
	if s.State != StateQueued {
		return "", nil
	}
	if s.Canary {
		return "a canary takes no lane slot: waiting for a worker to take it — is a pipeline serving?", nil
	}
	if c.Lanes == nil || s.Lane == "" {
		return "waiting for a worker to take it", nil
	}
	leases, err := c.Lanes.Leases(ctx, s.Lane)
	if err != nil {
		return "", fmt.Errorf("counting what runs in lane %s: %w", s.Lane, err)
	}
	running := fmt.Sprintf("%d running", len(leases))
	if s.LaneLimit > 0 {
		running = fmt.Sprintf("%d of %d running", len(leases), s.LaneLimit)
	}
	if s.LaneLimit <= 0 || len(leases) < s.LaneLimit {
		return fmt.Sprintf("lane %s: %s; waiting for a worker to take it — is a pipeline serving?", s.Lane, running), nil
	}
	pos, err := c.Position(ctx, s)
	if err != nil {
		return "", err
	}
	if pos == 0 {
		return fmt.Sprintf("lane %s: %s, position unknown", s.Lane, running), nil
	}
	return fmt.Sprintf("lane %s: %s, %s in line", s.Lane, running, Ordinal(pos)), nil
}

// Position returns a queued job's place in its lane's line (1 is next),
// counting the queued jobs of its lane with smaller ids submitted within
// PositionWindow before it; 0 when it cannot tell (more than PositionScan
// jobs in the window, or a job id without a time).
func (c *Client) Position(ctx context.Context, s JobSummary) (int, error) {
	at, ok := JobTime(s.JobID)
	if !ok {
		return 0, nil
	}
	ahead := 0
	complete, err := c.scanJobs(ctx, s.JobID, at.Add(-PositionWindow), PositionScan, func(o JobSummary) bool {
		if o.State == StateQueued && o.Lane == s.Lane && !o.Canary {
			ahead++
		}
		return true
	})
	if err != nil {
		return 0, fmt.Errorf("placing job %s in lane %s: %w", s.JobID, s.Lane, err)
	}
	if !complete {
		return 0, nil
	}
	return ahead + 1, nil
}

// Ordinal writes n as an English ordinal: 1st, 2nd, 3rd, 4th, 11th, 21st.
func Ordinal(n int) string {
	suffix := "th"
	switch n % 100 {
	case 11, 12, 13:
	default:
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return fmt.Sprintf("%d%s", n, suffix)
}
