package awsbackend

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/aws/aws-lambda-go/events"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/stream/sqsstream"
	"github.com/deployerhq/deployer/logshipper"
)

// ConfigPath is where a Lambda finds the allow-list: $DEPLOYER_CONFIG, or
// deployer.yaml in the function's package ($LAMBDA_TASK_ROOT).
func ConfigPath(getenv func(string) string) string {
	if p := getenv("DEPLOYER_CONFIG"); p != "" {
		return p
	}
	root := getenv("LAMBDA_TASK_ROOT")
	if root == "" {
		root = "."
	}
	return filepath.Join(root, "deployer.yaml")
}

// lambdaLogger logs JSON to stderr, which Lambda sends to CloudWatch Logs.
func lambdaLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// GatekeeperHandler is the init of the gatekeeper Lambda: it loads and
// fully validates the configuration (every regex compiled) and opens the
// backend's queues, so that a broken configuration or deployment fails
// the init with a clear error instead of rejecting every job. The handler
// it returns takes the request queue's event source mapping batches and
// reports partial batch failures.
func GatekeeperHandler(ctx context.Context, getenv func(string) string) (func(context.Context, events.SQSEvent) (events.SQSEventResponse, error), error) {
	path := ConfigPath(getenv)
	pol, err := policy.Load(path)
	if err != nil {
		return nil, fmt.Errorf("configuration %s: %w", path, err)
	}
	o, err := FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	o.Logger = lambdaLogger()
	b, err := Open(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := b.requireDeadLetters(); err != nil {
		return nil, err
	}
	return b.Gatekeeper(pol).HandleSQSEvent, nil
}

// LogshipperHandler is the init of the logshipper Lambda, fed by a
// CloudWatch Logs subscription filter on the task log group.
func LogshipperHandler(ctx context.Context, getenv func(string) string) (func(context.Context, events.CloudwatchLogsEvent) error, error) {
	o, err := FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	o.Logger = lambdaLogger()
	b, err := New(ctx, o)
	if err != nil {
		return nil, err
	}
	l := &logshipper.Lambda{
		Shipper:       &logshipper.Shipper{Streams: b.Streams},
		Tasks:         b.Runner,
		StreamAddress: sqsstream.Address,
		Logger:        o.Logger,
	}
	return l.Handle, nil
}
