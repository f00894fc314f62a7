package tracing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/internal/tracing"
	"github.com/deployerhq/deployer/internal/tracing/otlp"
	"github.com/deployerhq/deployer/internal/tracing/tracingtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	parent  = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	traceID = "0af7651916cd43dd8448eb211c80319c"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// Without an endpoint nothing is exported, and an incoming context still
// passes through the no-op tracer to what it starts.
func TestSetupWithoutEndpointIsNoop(t *testing.T) {
	for _, e := range []map[string]string{
		{},
		{tracing.EnvEndpoint: "http://127.0.0.1:1", tracing.EnvExporter: "none"},
		{tracing.EnvEndpoint: "http://127.0.0.1:1", tracing.EnvSDKDisabled: "true"},
	} {
		p, err := tracing.Setup(t.Context(), "test", env(e), otlp.Exporter)
		if err != nil || p.Exporting() {
			t.Fatalf("Setup(%v) = exporting %v, %v; want a no-op provider", e, p.Exporting(), err)
		}
		ctx := tracing.FromEnv(t.Context(), env(map[string]string{tracing.EnvTraceParent: parent}))
		ctx, span := p.Tracer().Start(ctx, "x")
		span.End()
		if got := tracing.TraceParent(ctx); got != parent {
			t.Errorf("a no-op span's context: traceparent %q, want the parent's %q", got, parent)
		}
		if err := p.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// A protocol the exporter does not speak is refused with the fix.
func TestSetupRefusesGRPC(t *testing.T) {
	p, err := tracing.Setup(t.Context(), "test", env(map[string]string{tracing.EnvEndpoint: "http://127.0.0.1:1", tracing.EnvProtocol: "grpc"}), otlp.Exporter)
	if err == nil || !strings.Contains(err.Error(), "http/protobuf") || p.Exporting() {
		t.Fatalf("Setup with grpc: %v, exporting %v", err, p.Exporting())
	}
}

// Wanted is what the environment asks for, apart from any exporter: what
// deployer, which links none, decides on whether to hand its command
// line to deployer-aws.
func TestWanted(t *testing.T) {
	const ep = "http://127.0.0.1:1"
	for _, c := range []struct {
		env    map[string]string
		want   bool
		errHas string
	}{
		{map[string]string{}, false, ""},
		{map[string]string{tracing.EnvEndpoint: ep}, true, ""},
		{map[string]string{tracing.EnvTracesEndpoint: ep}, true, ""},
		{map[string]string{tracing.EnvEndpoint: ep, tracing.EnvExporter: "otlp", tracing.EnvTracesProtocol: "http/json"}, true, ""},
		{map[string]string{tracing.EnvEndpoint: ep, tracing.EnvExporter: "none"}, false, ""},
		{map[string]string{tracing.EnvEndpoint: ep, tracing.EnvSDKDisabled: "TRUE"}, false, ""},
		{map[string]string{tracing.EnvExporter: "zipkin"}, false, ""},
		{map[string]string{tracing.EnvEndpoint: ep, tracing.EnvExporter: "zipkin"}, false, "OTLP only"},
		{map[string]string{tracing.EnvEndpoint: ep, tracing.EnvProtocol: "grpc"}, false, "http/protobuf"},
	} {
		got, err := tracing.Wanted(env(c.env))
		if got != c.want || (err == nil) != (c.errHas == "") || err != nil && !strings.Contains(err.Error(), c.errHas) {
			t.Errorf("Wanted(%v) = %v, %v; want %v and an error with %q", c.env, got, err, c.want, c.errHas)
		}
	}
}

// A process asked to export, without an exporter to, says so and runs
// without: the no-op provider.
func TestSetupWithoutExporter(t *testing.T) {
	p, err := tracing.Setup(t.Context(), "test", env(map[string]string{tracing.EnvEndpoint: "http://127.0.0.1:1"}), nil)
	if err == nil || !strings.Contains(err.Error(), "links no span exporter") || p.Exporting() {
		t.Fatalf("Setup without an exporter: %v, exporting %v", err, p.Exporting())
	}
}

// With an endpoint, spans reach an OTLP/HTTP receiver under the service's
// name, parented by TRACEPARENT.
func TestSetupExports(t *testing.T) {
	r := tracingtest.Start(t)
	t.Setenv(tracing.EnvEndpoint, r.URL)
	p, err := tracing.Setup(t.Context(), "deployer-test", env(map[string]string{tracing.EnvEndpoint: r.URL}), otlp.Exporter)
	if err != nil || !p.Exporting() {
		t.Fatalf("Setup: exporting %v, %v", p.Exporting(), err)
	}
	ctx := tracing.FromEnv(t.Context(), env(map[string]string{tracing.EnvTraceParent: parent, tracing.EnvTraceState: "vendor=x"}))
	ctx, span := p.Tracer().Start(ctx, tracing.SpanEnqueue)
	if tp := tracing.TraceParent(ctx); !strings.HasPrefix(tp, "00-"+traceID+"-") || tp == parent {
		t.Errorf("child traceparent %q: want trace %s and a span of its own", tp, traceID)
	}
	span.End()
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	spans := r.WaitFor(t, traceID, 10*time.Second, tracing.SpanEnqueue)
	if s := spans[0]; s.Service != "deployer-test" || s.ParentSpanID != "b7ad6b7169203331" {
		t.Errorf("span %+v: want service deployer-test, parent b7ad6b7169203331", s)
	}
}

func TestFromMessagePrecedence(t *testing.T) {
	const other = "00-11111111111111111111111111111111-2222222222222222-01"
	const xray = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	outer := tracing.FromEnv(context.Background(), env(map[string]string{tracing.EnvTraceParent: other}))
	for _, tc := range []struct {
		name        string
		attrs       map[string]string
		traceparent string
		xray        string
		want        string // trace id, "" for none
	}{
		{"attribute first", map[string]string{"traceparent": parent}, other, xray, traceID},
		{"body next", map[string]string{"traceparent": "garbage"}, parent, xray, traceID},
		{"then X-Ray", nil, "", xray, "5759e988bd862e3fe1be46a994272793"},
		{"none: a root, not the caller's context", nil, "", "Root=1-bad", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tracing.FromMessage(outer, tc.attrs, tc.traceparent, tc.xray)
			if got := tracing.TraceID(ctx); got != tc.want {
				t.Fatalf("trace id %q, want %q", got, tc.want)
			}
			if tc.want != "" && !trace.SpanContextFromContext(ctx).IsRemote() {
				t.Error("the parent is not remote")
			}
		})
	}
}

func TestInjectAndEnv(t *testing.T) {
	attrs := map[string]string{}
	tracing.Inject(context.Background(), attrs)
	if len(attrs) != 0 || len(tracing.Env(context.Background())) != 0 {
		t.Fatalf("no trace: attributes %v, env %v; want none", attrs, tracing.Env(context.Background()))
	}
	ctx := tracing.FromEnv(context.Background(), env(map[string]string{tracing.EnvTraceParent: parent, tracing.EnvTraceState: "a=b"}))
	tracing.Inject(ctx, attrs)
	if attrs["traceparent"] != parent || attrs["tracestate"] != "a=b" {
		t.Errorf("attributes %v", attrs)
	}
	if e := tracing.Env(ctx); e["TRACEPARENT"] != parent || e["TRACESTATE"] != "a=b" || len(e) != 2 {
		t.Errorf("env %v", e)
	}
}

func TestParseXRay(t *testing.T) {
	for _, tc := range []struct {
		h       string
		ok      bool
		trace   string
		span    string
		sampled bool
	}{
		{"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1", true, "5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8", true},
		{"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0;Lineage=a87bd80c:0", true, "5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8", false},
		{"Sampled=1; Parent=53995c3f42cd8ad8; Root=1-5759e988-bd862e3fe1be46a994272793", true, "5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8", true},
		{"Root=1-5759e988-bd862e3fe1be46a994272793", false, "", "", false},                         // no parent
		{"Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8", false, "", "", false}, // unknown version
		{"Root=1-5759e98-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8", false, "", "", false},
		{"Root=1-5759e988-bd862e3fe1be46a99427279z;Parent=53995c3f42cd8ad8", false, "", "", false},
		{"Root=1-00000000-000000000000000000000000;Parent=0000000000000000", false, "", "", false},
		{"", false, "", "", false},
	} {
		sc, ok := tracing.ParseXRay(tc.h)
		if ok != tc.ok {
			t.Errorf("ParseXRay(%q) ok = %v", tc.h, ok)
			continue
		}
		if ok && (sc.TraceID().String() != tc.trace || sc.SpanID().String() != tc.span || sc.IsSampled() != tc.sampled || !sc.IsRemote()) {
			t.Errorf("ParseXRay(%q) = %s/%s sampled %v", tc.h, sc.TraceID(), sc.SpanID(), sc.IsSampled())
		}
	}
}

func FuzzParseXRay(f *testing.F) {
	f.Add("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
	f.Add("Root=1-;Parent=;Sampled=")
	f.Fuzz(func(t *testing.T, h string) {
		if sc, ok := tracing.ParseXRay(h); ok != sc.IsValid() {
			t.Fatalf("ParseXRay(%q): ok %v but valid %v", h, ok, sc.IsValid())
		}
	})
}

// LogHandler adds the trace id of a record's context, once.
func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := tracing.JSONLogger(&buf, slog.LevelInfo)
	ctx := tracing.FromEnv(context.Background(), env(map[string]string{tracing.EnvTraceParent: parent}))
	log.InfoContext(ctx, "with context", "job_id", "J")
	log.Info("without context")
	log.With("trace_id", "mine").InfoContext(ctx, "named by the logger")
	log.InfoContext(ctx, "named by the record", "trace_id", "mine")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{traceID, "", "mine", "mine"}
	for i, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("line %d is not JSON: %s", i, l)
		}
		if got, _ := rec["trace_id"].(string); got != want[i] {
			t.Errorf("line %d: trace_id %q, want %q: %s", i, got, want[i], l)
		}
		if strings.Count(l, `"trace_id"`) > 1 {
			t.Errorf("line %d names trace_id twice: %s", i, l)
		}
	}
}
