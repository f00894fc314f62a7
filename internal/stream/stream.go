// Package stream is the port for per-job event streams: the channel through
// which the gatekeeper, worker and logshipper tell a waiting caller what its
// job is doing, line by line.
//
// A stream is created by the producer before it enqueues the request; its
// address travels in the request. Delivery is at-least-once and may be out
// of order: events carry ids and log lines carry sequence numbers, and the
// follower (producer package) dedupes and reorders. Adapters: sqlitestream
// (append-only table, replayable), sqsstream (one SQS queue per job).
// streamtest is the conformance suite.
package stream

import (
	"context"
	"errors"
	"time"

	"github.com/deployerhq/deployer/schemas"
)

var (
	// ErrNotFound means no stream at that address (never created, deleted or
	// expired).
	ErrNotFound = errors.New("stream not found")
	// ErrInvalidAddress means the address is not one this adapter makes.
	ErrInvalidAddress = errors.New("invalid stream address")
	// ErrThrottled means the backend asked the caller to slow down; retryable.
	ErrThrottled = errors.New("stream throttled")
)

// Streams creates, feeds, reads and deletes job streams.
type Streams interface {
	// Create makes the stream of jobID, kept for at least ttl, and returns
	// its address. Creating an existing stream returns the same address.
	Create(ctx context.Context, jobID string, ttl time.Duration) (string, error)
	// Publish appends events to the stream at address.
	Publish(ctx context.Context, address string, events ...schemas.JobEvent) error
	// Subscribe opens a reader of the stream. With a replayable adapter
	// every subscriber sees every event from the start; otherwise events
	// are consumed by whoever reads them first.
	Subscribe(ctx context.Context, address string) (Subscription, error)
	// Delete removes the stream; ErrNotFound when it does not exist.
	Delete(ctx context.Context, address string) error
	// DeleteExpired removes streams whose ttl has passed and returns how
	// many it removed (the janitor).
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
}

// Subscription reads one stream.
type Subscription interface {
	// Next blocks until events are available or wait elapses, and returns
	// them (none when wait elapsed). Entries that do not decode are
	// skipped, never returned as errors that would stop the follower.
	Next(ctx context.Context, wait time.Duration) ([]schemas.JobEvent, error)
	// HiddenUntil says until when events this subscription took from
	// the stream, and never returned, may still come back: a read whose
	// answer was lost after the backend handed events over (a connection
	// cut while the answer was read) hides them until then. It is the
	// zero time while no read was lost, and always with an adapter that
	// cannot lose one. A follower waiting for events it was promised
	// reads once more from then on before it gives up on them.
	HiddenUntil() time.Time
	// Close releases the subscription.
	Close() error
}
