package completion

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/spf13/cobra"
)

// Timeout bounds every completion that reads the backend, the
// configuration or asks the gatekeeper: past it, it offers nothing.
// $DEPLOYER_COMPLETION_TIMEOUT (a duration, at most MaxTimeout) sets
// another bound, for a gatekeeper far away.
const (
	Timeout    = 2 * time.Second
	MaxTimeout = 30 * time.Second
)

// timeout is Timeout; tests shorten it.
var timeout = Timeout

// limit is how long a completion may take: $DEPLOYER_COMPLETION_TIMEOUT
// when it is a positive duration (capped at MaxTimeout), else timeout.
func (c *completer) limit() time.Duration {
	if d, err := time.ParseDuration(c.f.Getenv("DEPLOYER_COMPLETION_TIMEOUT")); err == nil && d > 0 {
		return min(d, MaxTimeout)
	}
	return timeout
}

// running counts bounded's goroutines, those it gave up on included, so
// that tests can wait for them.
var running sync.WaitGroup

// errTimedOut is bounded's error when fn did not return in time.
var errTimedOut = errors.New("completion: timed out")

// bounded runs fn with a context that ends after d, and returns
// what it returned, or errTimedOut as soon as the time is up even if fn
// does not heed its context (a store busy beyond it): fn is then left to
// end with the process, which a completion is about to do. A panic in fn
// is an error too, never a message on stderr.
func bounded[T any](cmd *cobra.Command, d time.Duration, fn func(ctx context.Context) (T, error)) (T, error) {
	parent := context.Background()
	if cmd != nil && cmd.Context() != nil {
		parent = cmd.Context()
	}
	ctx, cancel := context.WithTimeout(parent, d)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	running.Add(1)
	go func() {
		defer running.Done()
		var r result
		defer func() {
			if p := recover(); p != nil {
				r = result{err: errors.New("completion: panic")}
			}
			done <- r
		}()
		r.v, r.err = fn(ctx)
	}()
	var zero T
	select {
	case r := <-done:
		// Both may be ready when fn ignores its context: the deadline
		// wins, so that d bounds what is returned, not only how long
		// this waits.
		if ctx.Err() != nil {
			return zero, errTimedOut
		}
		return r.v, r.err
	case <-ctx.Done():
		return zero, errTimedOut
	}
}
