// Package writes names a backend's way of making several writes of a
// component as one.
//
// A job's hops each make a few writes through different ports: the
// gatekeeper journals its accepted event and publishes it to the job's
// stream, the producer creates the job's stream and enqueues its request.
// On the embedded backend every port is a table of one SQLite database,
// and each write on its own is a commit, with a WAL append and a wake-up
// of every process watching the database; made together they are one
// commit, and all or nothing. On AWS the ports are different services:
// the writes are made one by one, as they are with no Together at all.
package writes

import "context"

// Together runs fn with a context under which the writes that fn makes
// through the backend's adapters are made as one: all of them or none,
// visible to others at once when Together returns nil. A write that fails
// inside fn is undone alone and its error returned to fn, which may go
// on; the others are kept if fn returns nil, and all are undone if it
// returns an error. fn must be quick (it may hold the backend's write
// lock), must not start goroutines that write with its context, and must
// write only through the backend's adapters.
type Together func(ctx context.Context, fn func(ctx context.Context) error) error

// Do runs fn under t, or on its own when t is nil: a backend whose writes
// cannot be made as one (AWS's) makes them one by one, in fn's order.
func (t Together) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	if t == nil {
		return fn(ctx)
	}
	return t(ctx, fn)
}
