package embedded

import (
	"context"
	"fmt"
	"sync"

	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/queue/sqlitequeue"
	"github.com/deployerhq/deployer/internal/schedule"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// ClientAs returns a producer client whose requests the request queue
// records as sent by sender instead of this process's OS user. The
// scheduler sends as "schedule:NAME" through it; it is not reachable from
// the command line, so a caller cannot pose as a schedule.
func (b *Backend) ClientAs(ctx context.Context, sender string) (*producer.Client, error) {
	br, err := sqlitequeue.New(b.DB, sqlitequeue.Options{SenderID: sender}) //nolint:contextcheck // constructors migrate with their own bounded context
	if err != nil {
		return nil, err
	}
	q, err := br.Open(ctx, topology.RequestQueue)
	if err != nil {
		return nil, fmt.Errorf("opening the request queue as %s: %w", sender, err)
	}
	c := b.Client()
	c.Requests = q
	return c, nil
}

// SchedulerLoop returns the loop that fires the configuration's
// schedules on this state directory (see package schedule), and its
// scheduler, whose schedules a configuration reload replaces (none is
// fine: a reload may add some).
func (b *Backend) SchedulerLoop(ctx context.Context, schedules map[string]schemas.Schedule, opts schedule.Options) (backend.Loop, *schedule.Scheduler, error) {
	if opts.Logger == nil {
		opts.Logger = b.logger
	}
	var (
		mu      sync.Mutex
		clients = map[string]*producer.Client{}
	)
	jobs := schedule.ClientJobs{
		Reader: b.Client(),
		As: func(name string) (*producer.Client, error) {
			mu.Lock()
			defer mu.Unlock()
			if c, ok := clients[name]; ok {
				return c, nil
			}
			c, err := b.ClientAs(ctx, schemas.ScheduleCaller(name))
			if err != nil {
				return nil, err
			}
			clients[name] = c
			return c, nil
		},
	}
	s, err := schedule.New(ctx, b.DB, schedules, jobs, opts)
	if err != nil {
		return backend.Loop{}, nil, err
	}
	return backend.Loop{Name: "scheduler", Run: s.Run}, s, nil
}
