// Package tracing is deployer's OpenTelemetry tracing: the tracer provider
// of a process, and the trace context's ways through the pipeline.
//
// A job's trace starts where its caller's does: the CLI takes the W3C
// TRACEPARENT (and TRACESTATE) CI tools put in the environment (FromEnv).
// From there the context travels in the messages' traceparent and
// tracestate attributes (Inject, FromMessage) — request, run order —
// through the gatekeeper and the worker into the task, whose environment
// gets TRACEPARENT (Env). A message without one is parented by the X-Ray
// header SQS keeps for it (queue.Message.TraceHeader, AWSTraceHeader), when
// there is one (ParseXRay).
//
// Spans are exported over OTLP/HTTP only when OTEL_EXPORTER_OTLP_ENDPOINT
// or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (Wanted, Setup), by the
// exporter of package otlp, which a binary that exports links; otherwise the
// provider is OpenTelemetry's no-op one, which records nothing and only
// passes an incoming context on, so that the trace id still reaches the
// task and the logs.
//
// LogHandler adds the trace id of a record's context to service log lines.
package tracing
