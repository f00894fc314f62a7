package client

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/tasklog"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/schemas"
)

// Lane is a concurrency lane of a configuration and what runs in it.
type Lane struct {
	// Name is the lane's name ("default" for containers that name none).
	Name string `json:"name"`
	// Limit is how many of its jobs may run at once.
	Limit int `json:"limit"`
	// Running is how many of its slots are held now: the jobs it runs.
	// -1 when the backend cannot count them.
	Running int `json:"running"`
}

// Lanes lists the lanes cfg's containers run in and the lanes it
// configures, sorted by name, with their limits and how many of their
// slots are held now (on AWS, the lease table's count). cfg is the
// configuration in force (policy.Load(...).Config()); the client knows
// none of its own.
func (c *Client) Lanes(ctx context.Context, cfg schemas.Config) ([]Lane, error) {
	var out []Lane
	for _, name := range backend.Lanes(cfg) {
		if name == topology.CancelLane {
			continue
		}
		l := Lane{Name: name, Running: -1}
		if lc, ok := cfg.Lanes[name]; ok {
			l.Limit = lc.Concurrency
		} else if name == schemas.DefaultLane {
			l.Limit = schemas.DefaultLaneLimit
		}
		if c.p.Lanes != nil {
			leases, err := c.p.Lanes.Leases(ctx, name)
			if err != nil {
				return nil, fmt.Errorf("counting what runs in lane %s of the %s: %w", name, c.Where(), err)
			}
			l.Running = len(leases)
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// TaskLog reads a task's own log: up to limit lines with a sequence
// number above after, in order (schemas.LogLine.Seq; the last record of
// a task that ended carries End). taskID is an attempt's task, as the
// job's started event names it (schemas.JobEvent.TaskID). A task that has
// logged nothing yet has no lines (not an error). It reads what is
// stored and returns, so a caller tails a running task by reading again
// after the last seq it got; Logs reads a whole job at once.
func (c *Client) TaskLog(ctx context.Context, taskID string, after int64, limit int) ([]schemas.LogLine, error) {
	lines, err := c.p.Logs.Read(ctx, taskID, after, limit)
	if errors.Is(err, tasklog.ErrNotFound) {
		return nil, nil
	}
	return lines, err
}
