package awsbackend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/journal/cwjournal"
	"github.com/deployerhq/deployer/internal/lane"
	"github.com/deployerhq/deployer/internal/lane/ddblane"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/queue/sqsqueue"
	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/internal/runner/ecsrunner"
	"github.com/deployerhq/deployer/internal/stream/sqsstream"
	"github.com/deployerhq/deployer/internal/tasklog/cwlogs"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/logshipper"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/worker"
)

// Backend is the AWS backend: every port's AWS adapter, on one
// configuration.
type Backend struct {
	Options Options
	Config  aws.Config

	Broker  *sqsqueue.Broker
	Streams *sqsstream.Streams
	Journal *cwjournal.Journal
	Logs    *cwlogs.Source
	Lanes   *ddblane.Limiter
	Runner  *ecsrunner.Runner

	logsClient *cloudwatchlogs.Client
	ddbClient  *dynamodb.Client

	requests, requestDLQ, runDLQ queue.Queue
}

var _ backend.Backend = (*Backend)(nil)

// New builds the adapters without calling AWS: what a Lambda's init does.
func New(ctx context.Context, o Options) (*Backend, error) {
	o = o.WithDefaults()
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("AWS backend options: %w", err)
	}
	cfg, err := awsx.Load(ctx, awsx.Options{Region: o.Region, BaseEndpoint: o.Endpoint, HTTPClient: o.HTTPClient, StaticCredentials: o.Credentials, Retry: o.Retry})
	if err != nil {
		return nil, err
	}
	return NewWithConfig(cfg, o)
}

// NewWithConfig builds the adapters on an aws.Config the caller made.
func NewWithConfig(cfg aws.Config, o Options) (*Backend, error) {
	o = o.WithDefaults()
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("AWS backend options: %w", err)
	}
	b := &Backend{Options: o, Config: cfg}
	var err error
	b.Broker = sqsqueue.New(sqs.NewFromConfig(cfg), sqsqueue.Options{Prefix: o.Prefix})
	b.Streams = sqsstream.New(b.Broker, sqsstream.Options{Logger: o.Logger})
	b.logsClient = cloudwatchlogs.NewFromConfig(cfg)
	if b.Journal, err = cwjournal.New(b.logsClient, cwjournal.Options{LogGroup: o.JournalLogGroup}); err != nil {
		return nil, err
	}
	if b.Logs, err = cwlogs.New(b.logsClient, cwlogs.Options{
		LogGroup:     o.TaskLogGroup,
		StreamPrefix: o.TaskStreamPrefix + "/" + o.ContainerName + "/",
	}); err != nil {
		return nil, err
	}
	b.ddbClient = dynamodb.NewFromConfig(cfg)
	if b.Lanes, err = ddblane.New(b.ddbClient, ddblane.Options{Table: o.LeaseTable}); err != nil {
		return nil, err
	}
	b.Runner = ecsrunner.New(ecs.NewFromConfig(cfg), ecsrunner.Options{
		Cluster:        o.Cluster,
		ContainerName:  o.ContainerName,
		LaunchType:     o.LaunchType,
		Subnets:        o.Subnets,
		SecurityGroups: o.SecurityGroups,
		AssignPublicIP: o.AssignPublicIP,
	})
	return b, nil
}

// Open builds the backend and opens its request and dead-letter queues,
// failing with a clear error when the deployment is not there.
func Open(ctx context.Context, o Options) (*Backend, error) {
	b, err := New(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := b.openQueues(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Backend) openQueues(ctx context.Context) error {
	open := func(name string) (queue.Queue, error) {
		q, err := b.Broker.Open(ctx, name)
		if errors.Is(err, queue.ErrNotFound) {
			return nil, fmt.Errorf("no queue %s%s in %s: is deployer deployed there with prefix %q? (%w)",
				b.Options.Prefix, name, b.Config.Region, b.Options.Prefix, err)
		}
		return q, err
	}
	var err error
	if b.requests, err = open(topology.RequestQueue); err != nil {
		return err
	}
	// A caller may run jobs without being allowed to read the dead-letter
	// queues: their failures surface when a dlq command uses them.
	if b.requestDLQ, err = open(topology.RequestDLQ); err != nil {
		b.requestDLQ = unavailable{name: topology.RequestDLQ, err: err}
	}
	if b.runDLQ, err = open(topology.RunDLQ); err != nil {
		b.runDLQ = unavailable{name: topology.RunDLQ, err: err}
	}
	return nil
}

// RequireDeadLetters fails when a dead-letter queue could not be opened:
// the gatekeeper and the worker cannot do without theirs.
func (b *Backend) RequireDeadLetters() error {
	for _, q := range []queue.Queue{b.requestDLQ, b.runDLQ} {
		if u, ok := q.(unavailable); ok {
			return fmt.Errorf("opening dead-letter queue %s: %w", u.name, u.err)
		}
	}
	return nil
}

// unavailable is a queue that could not be opened: every call fails with
// why.
type unavailable struct {
	name string
	err  error
}

func (u unavailable) Name() string { return u.name }
func (u unavailable) Send(context.Context, ...queue.Outgoing) ([]string, error) {
	return nil, u.err
}
func (u unavailable) Receive(context.Context, queue.ReceiveOptions) ([]queue.Message, error) {
	return nil, u.err
}
func (u unavailable) Delete(context.Context, ...string) error { return u.err }
func (u unavailable) ChangeVisibility(context.Context, string, time.Duration) error {
	return u.err
}

// Client returns a producer client. Job streams are SQS queues, consumed
// as they are read, so the client deletes a job's stream once it has read
// the terminal event; history comes from the journal and the task log.
func (b *Backend) Client() *producer.Client {
	return &producer.Client{Requests: b.requests, Streams: b.Streams, Logs: b.Logs, Journal: b.Journal, Lanes: b.Lanes, DeleteStreams: true}
}

// StreamAddress is the address of a job's stream.
func (b *Backend) StreamAddress(jobID string) string { return sqsstream.Address(jobID) }

// DeadLetterQueues returns the request and run dead-letter queues.
func (b *Backend) DeadLetterQueues() (requests, runs queue.Queue) { return b.requestDLQ, b.runDLQ }

// Served is always true: on AWS the pipeline is the deployment (the
// Lambdas and workers, or a "deployer up --backend aws"), never the
// calling command.
func (b *Backend) Served() (bool, error) { return true, nil }

// Where names the deployment.
func (b *Backend) Where() string {
	return fmt.Sprintf("AWS deployment in %s with prefix %q", b.Config.Region, b.Options.Prefix)
}

// Close releases nothing: the SDK clients hold no resources to free.
func (b *Backend) Close() error { return nil }

// RunQueue opens the run queue of a lane, creating it when needed (the
// gatekeeper creates lanes as configurations name them).
func (b *Backend) RunQueue(ctx context.Context, lane string) (queue.Queue, error) {
	return topology.RunQueue(ctx, b.Broker, lane)
}

// Gatekeeper returns the gatekeeper on this backend with policy pol.
func (b *Backend) Gatekeeper(pol gatekeeper.Policy) *gatekeeper.Gatekeeper {
	return &gatekeeper.Gatekeeper{
		Policy:        pol,
		RunQueue:      b.RunQueue,
		DeadLetters:   b.requestDLQ,
		Streams:       b.Streams,
		StreamAddress: sqsstream.Address,
		Journal:       b.Journal,
		Identify:      b.Options.Identify,
		Logger:        b.Options.Logger,
	}
}

// Logshipper returns the logshipper Lambda's handler on this backend: it
// ships the task log lines of CloudWatch Logs subscription batches to the
// jobs' streams, finding each stream's job with the ECS runner.
func (b *Backend) Logshipper() *logshipper.Lambda {
	return &logshipper.Lambda{
		Shipper:       &logshipper.Shipper{Streams: b.Streams},
		Tasks:         b.Runner,
		StreamAddress: sqsstream.Address,
		Logger:        b.Options.Logger,
	}
}

// Worker returns a worker on this backend; run is its runner (nil: the
// backend's ECS runner).
func (b *Backend) Worker(o worker.Options, run runner.Runner) (*worker.Worker, error) {
	if o.Logger == nil {
		o.Logger = b.Options.Logger
	}
	if run == nil {
		run = b.Runner
	}
	return worker.New(worker.Ports{
		Broker: b.Broker, DeadLetters: b.runDLQ, Runner: run,
		Streams: b.Streams, Journal: b.Journal, Lanes: b.Lanes,
	}, o)
}

// MetricSources returns where the metrics of a pipeline served on b read
// its queues and lanes.
func (b *Backend) MetricSources() (queue.Broker, lane.Limiter) { return b.Broker, b.Lanes }
