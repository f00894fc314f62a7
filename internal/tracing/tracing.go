package tracing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Environment variables Setup reads to decide whether to export. The
// exporter itself reads the rest of the OTEL_EXPORTER_OTLP_* variables
// (headers, timeout, compression, certificates) as the OpenTelemetry
// specification says.
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	EnvExporter       = "OTEL_TRACES_EXPORTER"
	EnvSDKDisabled    = "OTEL_SDK_DISABLED"
)

// Instrumentation is the name of deployer's tracers.
const Instrumentation = "github.com/deployerhq/deployer"

// Span names: one per step of a job's way from CI to its task.
const (
	// SpanEnqueue is the producer sending the job's request.
	SpanEnqueue = "enqueue"
	// SpanDecision is the gatekeeper deciding the request.
	SpanDecision = "decision"
	// SpanQueueWait is the run order waiting in its lane's run queue, from
	// the gatekeeper's send to a worker's receive.
	SpanQueueWait = "queue wait"
	// SpanTaskStart is the worker asking the runner for the task.
	SpanTaskStart = "task start"
	// SpanRun is the job on the worker, from asking for its task to its
	// outcome; the task's TRACEPARENT names it.
	SpanRun = "run"
)

// Provider is a process's tracer provider.
type Provider struct {
	trace.TracerProvider
	sdk *sdktrace.TracerProvider
}

// Exporting reports whether spans are exported.
func (p *Provider) Exporting() bool { return p != nil && p.sdk != nil }

// Tracer returns deployer's tracer.
func (p *Provider) Tracer() trace.Tracer { return p.TracerProvider.Tracer(Instrumentation) }

// Flush exports the spans ended so far (a Lambda calls it before its
// invocation returns: a frozen process exports nothing).
func (p *Provider) Flush(ctx context.Context) error {
	if !p.Exporting() {
		return nil
	}
	return p.sdk.ForceFlush(ctx)
}

// Shutdown exports what is left and stops the exporter.
func (p *Provider) Shutdown(ctx context.Context) error {
	if !p.Exporting() {
		return nil
	}
	return p.sdk.Shutdown(ctx)
}

// Noop is a provider that exports nothing.
func Noop() *Provider { return &Provider{TracerProvider: noop.NewTracerProvider()} }

// Exporter makes the span exporter of a process that exports: package
// otlp's, over OTLP/HTTP, in the binaries that link it. deployer links
// none, to start faster (the exporter brings gRPC and protobuf, ~0.8 ms
// of every start): it hands a command line that must export to
// deployer-aws (see package cli).
type Exporter func(context.Context) (sdktrace.SpanExporter, error)

// Wanted reports whether the environment (getenv) asks for spans to be
// exported: OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, unless OTEL_TRACES_EXPORTER
// is "none" or OTEL_SDK_DISABLED is "true". An exporter other than OTLP,
// or an OTLP protocol other than http/protobuf or http/json, is an
// error, and nothing is exported.
func Wanted(getenv func(string) string) (bool, error) {
	if getenv(EnvEndpoint) == "" && getenv(EnvTracesEndpoint) == "" ||
		strings.EqualFold(getenv(EnvSDKDisabled), "true") {
		return false, nil
	}
	switch e := getenv(EnvExporter); e {
	case "", "otlp":
	case "none":
		return false, nil
	default:
		return false, fmt.Errorf("%s=%s: deployer exports traces over OTLP only; set it to otlp or none", EnvExporter, e)
	}
	proto := getenv(EnvTracesProtocol)
	if proto == "" {
		proto = getenv(EnvProtocol)
	}
	switch proto {
	case "", "http/protobuf", "http/json":
	default:
		return false, fmt.Errorf("OTLP protocol %q: deployer exports over HTTP only; set %s=http/protobuf and point %s at the collector's OTLP/HTTP port (4318)",
			proto, EnvProtocol, EnvEndpoint)
	}
	return true, nil
}

// Setup returns the tracer provider of the process named service, as the
// environment (getenv) asks (see Wanted): exporting with the exporter
// export makes, else a no-op provider, which costs nothing. The exporter
// reads the rest of the OTEL_EXPORTER_OTLP_* variables (headers, timeout,
// compression, certificates) as the OpenTelemetry specification says;
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override the resource,
// OTEL_TRACES_SAMPLER the sampler (parent-based, always on by default)
// and OTEL_BSP_* the batching. When the environment asks for export
// wrongly, or export is nil, the error says why and the provider
// returned with it is the no-op one.
func Setup(ctx context.Context, service string, getenv func(string) string, export Exporter) (*Provider, error) {
	wanted, err := Wanted(getenv)
	if err != nil || !wanted {
		return Noop(), err
	}
	if export == nil {
		return Noop(), errors.New("this binary links no span exporter")
	}
	exp, err := export(ctx)
	if err != nil {
		return Noop(), fmt.Errorf("starting the OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		_ = exp.Shutdown(ctx)
		return Noop(), fmt.Errorf("describing the traced process: %w", err)
	}
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Provider{TracerProvider: sdk, sdk: sdk}, nil
}

// TraceID returns the trace id of ctx's span, "" when it has none.
func TraceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}

// shutdownTimeout bounds how long a process waits, at exit, for its last
// spans to be exported.
const shutdownTimeout = 5 * time.Second

// Start sets up tracing for a command-line process named service: the
// provider of Setup with export, made OpenTelemetry's global one (what the producer
// starts its enqueue spans with), and ctx with the parent CI passes in
// TRACEPARENT. A setup problem is written to stderr and the process runs
// without tracing. The returned stop exports what is left, waiting at
// most shutdownTimeout; call it before exiting.
func Start(ctx context.Context, service string, getenv func(string) string, stderr io.Writer, export Exporter) (context.Context, func()) {
	p, err := Setup(ctx, service, getenv, export)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "%s: tracing: %v; running without it\n", service, err)
	}
	otel.SetTracerProvider(p.TracerProvider)
	return FromEnv(ctx, getenv), func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if err := p.Shutdown(sctx); err != nil {
			_, _ = fmt.Fprintf(stderr, "%s: tracing: exporting the last spans: %v\n", service, err)
		}
	}
}
