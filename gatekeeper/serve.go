package gatekeeper

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/deployerhq/deployer/internal/queue"
)

// ServeOptions tune Serve.
type ServeOptions struct {
	// Wait is the long-poll wait of each receive. Defaults to 20s.
	Wait time.Duration
	// Visibility hides a message while it is handled. Defaults to 60s.
	Visibility time.Duration
}

// Serve handles requests from q until ctx ends. Messages Handle is done
// with are deleted; the others reappear after their visibility timeout and
// are handled again.
func (g *Gatekeeper) Serve(ctx context.Context, q queue.Queue, opts ServeOptions) error {
	if opts.Wait <= 0 {
		opts.Wait = queue.MaxWait
	}
	if opts.Visibility <= 0 {
		opts.Visibility = time.Minute
	}
	for ctx.Err() == nil {
		msgs, err := q.Receive(ctx, queue.ReceiveOptions{Max: queue.MaxBatch, Wait: opts.Wait, Visibility: opts.Visibility})
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			g.logger().Warn("receiving requests", "err", err)
			if err := pause(ctx, time.Second); err != nil {
				break
			}
			continue
		}
		var done []string
		for _, m := range msgs {
			err := ctx.Err() // stopping: the rest are not handled
			deleted := false
			if err == nil {
				deleted, err = g.handle(ctx, q, m)
			}
			switch {
			case err == nil && deleted:
			case err == nil:
				done = append(done, m.Receipt)
			case ctx.Err() != nil:
				// Stopping: another server takes it at once.
				g.handBack(ctx, q, m)
			default:
				g.logger().Warn("request will be retried", "message_id", m.ID, "err", err)
			}
		}
		if len(done) > 0 {
			// Acknowledge even when shutting down: the work is done.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			err := q.Delete(dctx, done...)
			cancel()
			if err != nil {
				g.logger().Warn("deleting handled requests", "err", err)
			}
		}
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return fmt.Errorf("serving requests: %w", ctx.Err())
}

// handle handles m. Where the backend makes writes as one (Together),
// m's delete is one of its handling's writes, and it reports whether m
// was deleted so: one commit for the request's whole hop instead of two,
// each waking every process that watches the state database. Elsewhere
// (SQS) the requests of a receive are deleted after, in one call.
func (g *Gatekeeper) handle(ctx context.Context, q queue.Queue, m queue.Message) (deleted bool, err error) {
	if g.Together == nil {
		return false, g.Handle(ctx, m)
	}
	err = g.Together.Do(ctx, func(ctx context.Context) error {
		if err := g.Handle(ctx, m); err != nil {
			return err
		}
		// A delete that fails is undone alone: the handling stands, and
		// the request is deleted after, as on SQS.
		if err := q.Delete(ctx, m.Receipt); err != nil {
			g.logger().Warn("deleting a handled request with its handling", "message_id", m.ID, "err", err)
			return nil
		}
		deleted = true
		return nil
	})
	return deleted, err
}

// handBack makes a request this server stopped before handling visible
// again at once, instead of after its visibility timeout (minutes, on a
// server started with a long one): handling is idempotent, so another
// server may take it now. A failure to is logged; the timeout still ends.
func (g *Gatekeeper) handBack(ctx context.Context, q queue.Queue, m queue.Message) {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := q.ChangeVisibility(hctx, m.Receipt, 0); err != nil && !errors.Is(err, queue.ErrInvalidReceipt) {
		g.logger().Warn("handing a request back", "message_id", m.ID, "err", err)
		return
	}
	g.logger().Info("handed request back", "message_id", m.ID)
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
