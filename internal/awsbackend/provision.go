package awsbackend

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/topology"
)

// Provision creates what a deployment needs that it can create itself —
// the request, cancel and dead-letter queues, the log groups and the lease
// table — when they are missing, and opens the queues. It is for
// emulators, tests and small installations; production deployments come
// from Terraform, which creates the same resources with the same names.
// The ECS cluster and task definitions are never created here.
func (b *Backend) Provision(ctx context.Context) error {
	for _, c := range []struct {
		name string
		cfg  queue.Config
	}{
		{topology.RequestDLQ, topology.DeadLetterConfig()},
		{topology.RunDLQ, topology.DeadLetterConfig()},
		{topology.RequestQueue, topology.RequestQueueConfig()},
	} {
		if _, err := b.Broker.Create(ctx, c.name, c.cfg); err != nil {
			return fmt.Errorf("provisioning queue %s: %w", c.name, err)
		}
	}
	for _, g := range []string{b.Options.TaskLogGroup, b.Options.JournalLogGroup} {
		_, err := b.logsClient.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(g)})
		if err != nil && !awsx.HasCode(err, "ResourceAlreadyExistsException") {
			return fmt.Errorf("provisioning log group %s: %w", g, err)
		}
	}
	if _, err := b.RunQueue(ctx, topology.CancelLane); err != nil {
		return fmt.Errorf("provisioning the cancel queue: %w", err)
	}
	if err := b.Lanes.EnsureTable(ctx); err != nil {
		return fmt.Errorf("provisioning lease table %s: %w", b.Options.LeaseTable, err)
	}
	return b.openQueues(ctx)
}
