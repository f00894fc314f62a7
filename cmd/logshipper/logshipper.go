package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/internal/tracing"
)

// run is the Lambda's process: its init (handler), then start, which
// serves invocations until Lambda ends the process (lambda.Start). A
// failed init is written to stderr, which Lambda logs, and exits 1.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer, start func(handler any)) int {
	h, err := handler(ctx, getenv, stderr)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "logshipper: init: %v\n", err)
		return 1
	}
	start(h)
	return 0
}

// handler is the Lambda's init: the backend's logshipper, from the
// environment, without calling AWS. The handler it returns takes the
// batches of the task log group's CloudWatch Logs subscription filter. It
// logs JSON to stderr, which Lambda sends to CloudWatch Logs.
func handler(ctx context.Context, getenv func(string) string, stderr io.Writer) (func(context.Context, events.CloudwatchLogsEvent) error, error) {
	o, err := awsbackend.FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	o.Logger = tracing.JSONLogger(stderr, slog.LevelInfo)
	b, err := awsbackend.New(ctx, o)
	if err != nil {
		return nil, err
	}
	return b.Logshipper().Handle, nil
}
