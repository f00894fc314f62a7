package batch

import (
	"context"
	"errors"
	"time"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// follow follows the batch to its end (client.Client.FollowBatch), printing
// what changed, and returns the error carrying the batch's exit code; 75
// when maxWait passed, 130 when ctx ended first.
func follow(ctx context.Context, f *factory.Factory, c *client.Client, v *view, id string, maxWait, every time.Duration) error {
	stopServing := jobview.KeepServed(ctx, f, c, every*8)
	defer stopServing()
	fctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	batch, err := c.FollowBatch(fctx, id, every,
		func(bt producer.Batch, evs []schemas.JobEvent) { v.update(bt, evs, time.Now()) },
		func(err error) { v.status("reading batch %s: %v (retrying)", id, err) })
	switch {
	case err == nil:
		v.summary(batch)
		if code := batch.ExitCode(); code != 0 {
			return factory.Exit(code)
		}
		return nil
	case ctx.Err() != nil:
		v.status("stopped following batch %s; it keeps running. Re-attach with: deployer batch wait %s", id, id)
		return factory.Exit(producer.ExitCancelled)
	case errors.Is(err, context.DeadlineExceeded):
		v.status("gave up waiting after %s; batch %s keeps running. Re-attach with: deployer batch wait %s", maxWait, id, id)
		return factory.Exit(producer.ExitGaveUp)
	}
	return err
}
