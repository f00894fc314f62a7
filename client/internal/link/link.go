// Package link lets package client/awsclient make a client.Client of the
// AWS backend, and run task processes with the AWS SDK's secrets, without
// package client linking the AWS SDK or exporting functions that take
// deployer's internal types.
package link

import (
	"context"

	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/task/secret"
)

// NewClient returns a *client.Client on b. Package client sets it when
// it is initialised; package awsclient, which imports client, calls it.
var NewClient func(b backend.Backend) any

// RunTaskProcess is client.RunTaskProcess resolving the task's secrets
// with secrets. Package client sets it when it is initialised; package
// awsclient calls it with a Resolver that reads AWS.
var RunTaskProcess func(ctx context.Context, args []string, secrets *secret.Resolver) (code int, ok bool)
