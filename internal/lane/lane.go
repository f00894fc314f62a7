// Package lane is the port for concurrency lanes: global limits on how many
// jobs of a lane run at once across every worker (3 AMI builds at a time,
// say), held as leases that expire if their holder dies.
package lane

import (
	"context"
	"errors"
	"time"
)

// ErrNotHeld means the holder has no lease in the lane (it expired or was
// released).
var ErrNotHeld = errors.New("lane lease not held")

// Limiter hands out lane leases.
type Limiter interface {
	// Acquire takes one of the lane's limit slots for holder (a job id and
	// attempt) for ttl. It reports false when the lane is full. Acquiring
	// a slot the holder already has renews it.
	Acquire(ctx context.Context, lane string, limit int, holder string, ttl time.Duration) (bool, error)
	// Renew extends the holder's lease; ErrNotHeld when it has none.
	Renew(ctx context.Context, lane, holder string, ttl time.Duration) error
	// Release gives the slot back; releasing a lease not held is a no-op.
	Release(ctx context.Context, lane, holder string) error
	// Transfer hands from's live lease to holder to, for ttl, without the
	// lane's count changing at any moment: a slot reserved before its job
	// was known becomes the job's. When to holds a live lease already,
	// from's is released and to's renewed instead. ErrNotHeld when from
	// holds no live lease.
	Transfer(ctx context.Context, lane, from, to string, ttl time.Duration) error
	// Leases lists the lane's live leases, so that a lease whose holder
	// went quiet can be judged by what it stands for.
	Leases(ctx context.Context, lane string) ([]Lease, error)
}

// Lease is a live lease of a lane.
type Lease struct {
	Holder string
	// Expires is when the lease lapses unless renewed.
	Expires time.Time
}
