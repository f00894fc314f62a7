// Package awsclient opens a client.Client on an AWS deployment of
// deployer (SQS, CloudWatch Logs, DynamoDB, made by the Terraform module),
// and runs the embedded backend's task processes with the AWS secrets
// their tasks reference (RunTaskProcess).
//
// It is a package of its own so that a program that only uses the
// embedded backend does not link the AWS SDK: initialising the SDK's
// service clients costs every process that links them several
// milliseconds at start, before main runs (docs/performance.md).
package awsclient

import (
	"context"
	"fmt"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/client/internal/link"
	"github.com/deployerhq/deployer/internal/awsbackend"
)

// Open opens an AWS deployment and checks that its request queue exists,
// failing with a message that names the region and prefix when it does
// not. Its dead-letter queues are opened too; a caller not allowed to
// read them can still submit and follow jobs, and the dead-letter
// methods say why they fail.
func Open(ctx context.Context, o client.AWSOptions) (*client.Client, error) {
	b, err := awsbackend.Open(ctx, awsbackend.Options{
		Region:           o.Region,
		Prefix:           o.Prefix,
		Endpoint:         o.Endpoint,
		JournalLogGroup:  o.JournalLogGroup,
		TaskLogGroup:     o.TaskLogGroup,
		TaskStreamPrefix: o.TaskStreamPrefix,
		ContainerName:    o.ContainerName,
		LeaseTable:       o.LeaseTable,
		HTTPClient:       o.HTTPClient,
		Logger:           o.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("opening the AWS backend: %w", err)
	}
	return link.NewClient(b).(*client.Client), nil
}
