// Package otlp is the span exporter of the processes that export their
// spans: OTLP over HTTP (protobuf or JSON), configured by the
// OTEL_EXPORTER_OTLP_* variables as the OpenTelemetry specification says.
// It is apart from package tracing so that a binary that never exports
// itself (deployer, which hands such command lines to deployer-aws) does
// not link it, nor the gRPC and protobuf packages it brings: their
// package init costs every start ~0.8 ms (docs/performance.md).
package otlp

import (
	"context"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Exporter makes the OTLP/HTTP span exporter (a tracing.Exporter).
func Exporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	return otlptracehttp.New(ctx)
}
