package schedule

import (
	"context"
	"fmt"

	"github.com/deployerhq/deployer/producer"
)

// ClientJobs is Jobs on producer clients.
type ClientJobs struct {
	// As returns a client whose requests the request queue records as
	// sent by the schedule's caller (schemas.ScheduleCaller).
	As func(schedule string) (*producer.Client, error)
	// Reader reads the journal.
	Reader *producer.Client
}

var _ Jobs = ClientJobs{}

// Submit sends r as the schedule's caller.
func (c ClientJobs) Submit(ctx context.Context, schedule string, r producer.Request) error {
	cl, err := c.As(schedule)
	if err != nil {
		return err
	}
	_, err = cl.Submit(ctx, r)
	return err
}

// Cancel asks the gatekeeper to cancel jobID as the schedule's caller.
func (c ClientJobs) Cancel(ctx context.Context, schedule, jobID, reason string) error {
	cl, err := c.As(schedule)
	if err != nil {
		return err
	}
	ans, err := cl.Cancel(ctx, jobID, producer.CancelOptions{Reason: reason})
	if err != nil {
		return err
	}
	if !ans.Accepted {
		return fmt.Errorf("cancel of job %s rejected (%s): %s", jobID, ans.ReasonCode, ans.Reason)
	}
	return nil
}

// Job summarizes a job from the journal.
func (c ClientJobs) Job(ctx context.Context, jobID string) (producer.JobSummary, error) {
	return c.Reader.Job(ctx, jobID)
}
