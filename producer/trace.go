package producer

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/deployerhq/deployer/internal/tracing"
	"github.com/deployerhq/deployer/schemas"
)

// enqueueSpan starts the enqueue span of req, with OpenTelemetry's global
// tracer provider (a no-op one unless the program set another), under
// the trace of ctx — the caller's: the CLI takes CI's TRACEPARENT — else
// the one req carries already (a replay continues the original's), else
// a new one; and sets req.TraceParent to the span's context, so that the
// gatekeeper's decision follows it. With the no-op provider the span is
// ctx's own context, passed on; with no trace at all, req carries none.
func enqueueSpan(ctx context.Context, req *schemas.JobRequest) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() && req.TraceParent != "" {
		ctx = tracing.FromMessage(ctx, nil, req.TraceParent, "")
	}
	ctx, span := otel.Tracer(tracing.Instrumentation).Start(ctx, tracing.SpanEnqueue,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("deployer.job_id", req.JobID), attribute.Int("deployer.attempt", req.Attempt),
			attribute.String("deployer.container", req.Container), attribute.String("deployer.script", req.Script)))
	if tp := tracing.TraceParent(ctx); tp != "" {
		req.TraceParent = tp
	}
	return ctx, span
}
