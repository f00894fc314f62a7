// Package awscli is the aws backend of the deployer command line: the
// AWS SDK's adapters (package awsbackend) behind factory.AWS, and behind
// the interfaces of the commands that do more on AWS than open a client
// or a backend (doctor.AWS, rollback.AWS).
//
// deployer-aws and infrastructure-deployer link it. deployer does not:
// initialising the SDK's service clients costs every process that links
// them several milliseconds before main runs, and "deployer run" on the
// embedded backend needs none of them. A deployer command that needs the
// aws backend hands its command line to deployer-aws
// (factory.Factory.HandOff).
package awscli

import (
	"context"
	"errors"
	"fmt"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/client/awsclient"
	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/cli/doctor"
	"github.com/deployerhq/deployer/internal/cli/factory"
	clirollback "github.com/deployerhq/deployer/internal/cli/rollback"
	"github.com/deployerhq/deployer/internal/cli/supervise"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/rollback"
	"github.com/deployerhq/deployer/internal/rollback/awsrollback"
	"github.com/deployerhq/deployer/internal/task/secret"
	"github.com/deployerhq/deployer/internal/task/secret/awssecret"
)

// AWS opens the aws backend for the commands; its zero value is ready.
type AWS struct{}

var (
	_ factory.AWS          = AWS{}
	_ doctor.AWS           = AWS{}
	_ clirollback.AWS      = AWS{}
	_ supervise.AWSSecrets = AWS{}
)

// Secrets implements supervise.AWSSecrets: the SDK's reader of Secrets
// Manager and SSM, for the hidden command that resolves a local task's
// secrets.
func (AWS) Secrets() secret.Fetcher { return &awssecret.Fetcher{} }

// Options returns the AWS backend's options: the environment (see
// awsbackend.FromEnv), then --region and --prefix.
func Options(f *factory.Factory) (awsbackend.Options, error) {
	o, err := awsbackend.FromEnv(f.Getenv)
	if err != nil {
		return o, factory.Config(err)
	}
	o.Region, o.Prefix = f.AWSLocation()
	return o, nil
}

// Client implements factory.AWS.
func (AWS) Client(ctx context.Context, f *factory.Factory) (*client.Client, error) {
	o, err := Options(f)
	if err != nil {
		return nil, err
	}
	return awsclient.Open(ctx, client.AWSOptions{
		Region: o.Region, Prefix: o.Prefix,
		JournalLogGroup: o.JournalLogGroup, TaskLogGroup: o.TaskLogGroup, TaskStreamPrefix: o.TaskStreamPrefix,
		ContainerName: o.ContainerName, LeaseTable: o.LeaseTable,
	})
}

// Backend implements factory.AWS.
func (AWS) Backend(ctx context.Context, f *factory.Factory, provision bool) (backend.Backend, error) {
	o, err := Options(f)
	if err != nil {
		return nil, err
	}
	if !provision {
		b, err := awsbackend.Open(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("opening the AWS backend: %w", err)
		}
		return b, nil
	}
	b, err := awsbackend.New(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("opening the AWS backend: %w", err)
	}
	if err := b.Provision(ctx); err != nil {
		return nil, fmt.Errorf("provisioning the AWS backend: %w", err)
	}
	return b, nil
}

// Doctor implements doctor.AWS.
func (AWS) Doctor(ctx context.Context, f *factory.Factory) (doctor.AWSDeployment, error) {
	o, err := Options(f)
	if err != nil {
		return doctor.AWSDeployment{}, err
	}
	b, err := awsbackend.Open(ctx, o)
	switch {
	case err == nil:
		return doctor.AWSDeployment{Backend: b, Broker: b.Broker, Client: b.Client(), Prefix: b.Options.Prefix}, nil
	case errors.Is(err, queue.ErrNotFound) || errors.Is(err, queue.ErrDenied):
		// The endpoint answered: doctor's queues check says what is
		// wrong.
		if b, err = awsbackend.New(ctx, o); err != nil {
			return doctor.AWSDeployment{}, fmt.Errorf("opening the AWS backend: %w", err)
		}
		return doctor.AWSDeployment{Backend: b, Broker: b.Broker, Prefix: b.Options.Prefix}, nil
	}
	return doctor.AWSDeployment{}, err
}

// Rollback implements rollback.AWS: the AWS adapters of the deployment,
// without calling AWS.
func (AWS) Rollback(ctx context.Context, f *factory.Factory) (rollback.Ports, rollback.Deployment, string, error) {
	o, err := Options(f)
	if err != nil {
		return rollback.Ports{}, rollback.Deployment{}, "", err
	}
	b, err := awsbackend.New(ctx, o)
	if err != nil {
		return rollback.Ports{}, rollback.Deployment{}, "", fmt.Errorf("opening the AWS backend: %w", err)
	}
	d := rollback.Deployment{Prefix: b.Options.Prefix, Cluster: b.Options.Cluster}
	return awsrollback.New(b.Config, awsrollback.Options{}), d, b.Where(), nil
}
