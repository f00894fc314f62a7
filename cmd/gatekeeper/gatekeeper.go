package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/aws/aws-lambda-go/events"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/awsbackend"
)

// run is the Lambda's process: its init (handler), then start, which
// serves invocations until Lambda ends the process (lambda.Start). A
// failed init is written to stderr, which Lambda logs, and exits 1.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer, start func(handler any)) int {
	h, err := handler(ctx, getenv, stderr)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "gatekeeper: init: %v\n", err)
		return 1
	}
	start(h)
	return 0
}

// configPath is where the Lambda finds the allow-list: $DEPLOYER_CONFIG,
// or deployer.yaml in the function's package ($LAMBDA_TASK_ROOT).
func configPath(getenv func(string) string) string {
	if p := getenv("DEPLOYER_CONFIG"); p != "" {
		return p
	}
	root := getenv("LAMBDA_TASK_ROOT")
	if root == "" {
		root = "."
	}
	return filepath.Join(root, "deployer.yaml")
}

// handler is the Lambda's init: it loads and fully validates the
// configuration (every regex compiled) and opens the backend's queues, so
// that a broken configuration or deployment fails the init with a clear
// error instead of rejecting every job. The handler it returns takes the
// request queue's event source mapping batches and reports partial batch
// failures. It logs JSON to stderr, which Lambda sends to CloudWatch Logs.
func handler(ctx context.Context, getenv func(string) string, stderr io.Writer) (func(context.Context, events.SQSEvent) (events.SQSEventResponse, error), error) {
	path := configPath(getenv)
	pol, err := policy.Load(path)
	if err != nil {
		return nil, fmt.Errorf("configuration %s: %w", path, err)
	}
	o, err := awsbackend.FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	o.Logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	b, err := awsbackend.Open(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := b.RequireDeadLetters(); err != nil {
		return nil, err
	}
	return b.Gatekeeper(pol).HandleSQSEvent, nil
}
