package batch

import (
	"context"
	"errors"
	"time"

	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/producer"
)

// follow reads the batch's journal every poll interval, printing what
// changed, until every job of the batch has ended, maxWait passes or ctx
// ends, and returns the error carrying the batch's exit code. One read per
// interval follows the whole batch, however many jobs it has; their logs
// are read on demand ("deployer batch logs").
func follow(ctx context.Context, f *factory.Factory, b backend.Backend, v *view, id string, maxWait, every time.Duration) error {
	stopServing := jobview.KeepServed(ctx, f, b, every*8)
	defer stopServing()
	fctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	client := b.Client()
	t := time.NewTicker(every)
	defer t.Stop()

	for {
		batch, evs, err := client.ReadBatch(fctx, id)
		switch {
		case err == nil:

			v.update(batch, evs, time.Now())
			if batch.Ended() {
				v.summary(batch)
				if code := batch.ExitCode(); code != 0 {
					return factory.Exit(code)
				}
				return nil
			}
		case errors.Is(err, journal.ErrNotFound):
			// Nothing decided yet: the gatekeeper has not seen a job.
		case fctx.Err() == nil:
			v.status("reading batch %s: %v (retrying)", id, err)
		}
		select {
		case <-t.C:
			continue
		case <-fctx.Done():
		}
		break
	}
	if ctx.Err() != nil {
		v.status("stopped following batch %s; it keeps running. Re-attach with: deployer batch wait %s", id, id)
		return factory.Exit(producer.ExitCancelled)
	}
	v.status("gave up waiting after %s; batch %s keeps running. Re-attach with: deployer batch wait %s", maxWait, id, id)
	return factory.Exit(producer.ExitGaveUp)
}
