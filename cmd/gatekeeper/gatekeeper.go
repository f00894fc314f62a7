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
	"github.com/deployerhq/deployer/internal/metrics/emf"
	"github.com/deployerhq/deployer/internal/tracing"
	"github.com/deployerhq/deployer/internal/tracing/otlp"
)

// run is the Lambda's process: its init (handler), then start, which
// serves invocations until Lambda ends the process (lambda.Start). A
// failed init is written to stderr, which Lambda logs, and exits 1.
func run(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer, start func(handler any)) int {
	h, err := handler(ctx, getenv, stdout, stderr)
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
// failures. It logs JSON to stderr, which Lambda sends to CloudWatch Logs,
// and after each invocation writes its decisions' counts to stdout in
// CloudWatch Embedded Metric Format (see package emf). Its decision spans
// are exported, before the invocation returns, when
// OTEL_EXPORTER_OTLP_ENDPOINT is set (a collector extension's address).
func handler(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) (func(context.Context, events.SQSEvent) (events.SQSEventResponse, error), error) {
	path := configPath(getenv)
	pol, err := policy.Load(path)
	if err != nil {
		return nil, fmt.Errorf("configuration %s: %w", path, err)
	}
	o, err := awsbackend.FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	o.Logger = tracing.JSONLogger(stderr, slog.LevelInfo)
	tp, err := tracing.Setup(ctx, "deployer-gatekeeper", getenv, otlp.Exporter)
	if err != nil {
		o.Logger.Error("tracing: running without it", "err", err)
	}
	b, err := awsbackend.Open(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := b.RequireDeadLetters(); err != nil {
		return nil, err
	}
	g := b.Gatekeeper(pol)
	decisions := &emf.Decisions{Deployment: b.Options.Prefix, Out: stdout}
	g.Observer, g.Tracer = decisions, tp.Tracer()
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		resp, err := g.HandleSQSEvent(ctx, ev)
		if ferr := decisions.Flush(); ferr != nil {
			o.Logger.Warn("writing the decisions' metrics", "err", ferr)
		}
		// A Lambda is frozen between invocations: what is not exported
		// now may never be.
		if ferr := tp.Flush(ctx); ferr != nil {
			o.Logger.Warn("tracing: exporting the invocation's spans", "err", ferr)
		}
		return resp, err
	}, nil
}
