package tracing

import (
	"context"
	"encoding/hex"
	"strings"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Message attribute and environment variable names of the W3C trace
// context.
const (
	AttrTraceParent = "traceparent"
	AttrTraceState  = "tracestate"
	EnvTraceParent  = "TRACEPARENT"
	EnvTraceState   = "TRACESTATE"
)

var w3c propagation.TraceContext

// Inject sets the traceparent (and, when it has one, tracestate)
// attributes of a message to ctx's span context; it sets nothing when ctx
// has no valid span context. attrs must not be nil.
func Inject(ctx context.Context, attrs map[string]string) {
	w3c.Inject(ctx, propagation.MapCarrier(attrs))
}

// TraceParent returns the W3C traceparent of ctx's span context, "" when
// it has no valid one.
func TraceParent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	w3c.Inject(ctx, c)
	return c[AttrTraceParent]
}

// Env returns the environment variables that give a task ctx's trace
// context: TRACEPARENT, and TRACESTATE when there is one; none when ctx
// has no valid span context.
func Env(ctx context.Context) map[string]string {
	return SpanEnv(ctx, trace.SpanContextFromContext(ctx))
}

// SpanEnv is Env of the span context sc (ctx's own is ignored).
func SpanEnv(ctx context.Context, sc trace.SpanContext) map[string]string {
	c := propagation.MapCarrier{}
	w3c.Inject(trace.ContextWithSpanContext(ctx, sc), c)
	env := map[string]string{}
	if v := c[AttrTraceParent]; v != "" {
		env[EnvTraceParent] = v
	}
	if v := c[AttrTraceState]; v != "" {
		env[EnvTraceState] = v
	}
	return env
}

// FromEnv returns ctx with the remote parent CI tools pass in the
// environment (TRACEPARENT, TRACESTATE), or ctx as it is when TRACEPARENT
// is unset or invalid.
func FromEnv(ctx context.Context, getenv func(string) string) context.Context {
	c := propagation.MapCarrier{AttrTraceParent: getenv(EnvTraceParent), AttrTraceState: getenv(EnvTraceState)}
	if sc := trace.SpanContextFromContext(w3c.Extract(context.Background(), c)); sc.IsValid() {
		return trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return ctx
}

// FromMessage returns ctx with the remote parent a message carries: its
// traceparent and tracestate attributes; else traceparent, a value the
// message's body carries (a job request's TraceParent); else the X-Ray
// header SQS keeps for it (xray, queue.Message.TraceHeader). With none
// valid the returned context has no span at all, whatever ctx had, so
// that what starts from it is a trace of its own.
func FromMessage(ctx context.Context, attrs map[string]string, traceparent, xray string) context.Context {
	return WithParent(ctx, MessageParent(ctx, attrs, traceparent, xray))
}

// MessageParent is the remote span context FromMessage finds, invalid
// when the message carries none (ctx's own span context is ignored).
func MessageParent(ctx context.Context, attrs map[string]string, traceparent, xray string) trace.SpanContext {
	bare := trace.ContextWithSpanContext(ctx, trace.SpanContext{})
	for _, c := range []propagation.MapCarrier{
		{AttrTraceParent: attrs[AttrTraceParent], AttrTraceState: attrs[AttrTraceState]},
		{AttrTraceParent: traceparent},
	} {
		if c[AttrTraceParent] == "" {
			continue
		}
		if sc := trace.SpanContextFromContext(w3c.Extract(bare, c)); sc.IsValid() {
			return sc
		}
	}
	sc, _ := ParseXRay(xray)
	return sc
}

// WithParent returns ctx with sc as its remote parent when sc is valid,
// else ctx with no span at all, so that what starts from it is a new
// trace whatever ctx held.
func WithParent(ctx context.Context, sc trace.SpanContext) context.Context {
	if sc.IsValid() {
		return trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return trace.ContextWithSpanContext(ctx, trace.SpanContext{})
}

// ParseXRay reads an AWS X-Ray trace header ("Root=1-5759e988-
// bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1", the SQS
// AWSTraceHeader system attribute) as a W3C remote span context: the trace
// id is the root's epoch and unique parts together, the span id its
// Parent, sampled when Sampled=1. A header without a valid Root and Parent
// gives false.
func ParseXRay(h string) (trace.SpanContext, bool) {
	var root, parent, sampled string
	for _, part := range strings.Split(h, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Root":
			root = v
		case "Parent":
			parent = v
		case "Sampled":
			sampled = v
		}
	}
	version, rest, ok := strings.Cut(root, "-")
	if !ok || version != "1" {
		return trace.SpanContext{}, false
	}
	epoch, unique, ok := strings.Cut(rest, "-")
	if !ok || len(epoch) != 8 || len(unique) != 24 || len(parent) != 16 {
		return trace.SpanContext{}, false
	}
	var cfg trace.SpanContextConfig
	if _, err := hex.Decode(cfg.TraceID[:], []byte(epoch+unique)); err != nil {
		return trace.SpanContext{}, false
	}
	if _, err := hex.Decode(cfg.SpanID[:], []byte(parent)); err != nil {
		return trace.SpanContext{}, false
	}
	if sampled == "1" {
		cfg.TraceFlags = trace.FlagsSampled
	}
	cfg.Remote = true
	sc := trace.NewSpanContext(cfg)
	return sc, sc.IsValid()
}
