package gatekeeper_test

import (
	"context"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/tracing"
)

// decisions counts what an Observer hears, by "decision/reason".
type decisions struct {
	mu sync.Mutex
	n  map[string]int
}

func (d *decisions) Decided(decision, reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n == nil {
		d.n = map[string]int{}
	}
	d.n[decision+"/"+reason]++
}

// Every request of a batch is told to the observer once, with its
// decision and reason code; a request that will be retried is not told.
func TestDecisionsObserved(t *testing.T) {
	h := newHarness(t, "")
	obs := &decisions{}
	h.g.Observer = obs
	if _, err := h.g.HandleSQSEvent(context.Background(), loadEvent(t)); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"accepted/none": 1,
		"rejected/" + policy.CodeOptionRestricted:             1,
		"rejected/" + gatekeeper.ReasonNoIdentity:             1,
		"rejected/" + policy.CodeMalformedArgs:                1,
		"dead_lettered/" + gatekeeper.ReasonMalformed:         1,
		"dead_lettered/" + gatekeeper.ReasonUnsupportedSchema: 1,
	}
	if !maps.Equal(obs.n, want) {
		t.Errorf("decisions %v, want %v", obs.n, want)
	}

	h = newHarness(t, "sqlite:01JD3Q8Z5W6X7Y8Z9A0B1C2D3E") // its stream fails: retried
	obs = &decisions{}
	h.g.Observer = obs
	if _, err := h.g.HandleSQSEvent(context.Background(), loadEvent(t)); err != nil {
		t.Fatal(err)
	}
	if obs.n["accepted/none"] != 0 || len(obs.n) != 5 {
		t.Errorf("decisions %v: the request to retry was counted", obs.n)
	}
}

// A request's decision span is a child of the trace context the request
// carries — its traceparent attribute, else the body's traceparent, else
// SQS's AWSTraceHeader — and the run order forwarded carries the
// decision's context.
func TestDecisionSpanContinuesTheTrace(t *testing.T) {
	const (
		attrParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
		xray       = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	)
	for _, tc := range []struct {
		name          string
		attrs         map[string]string
		header        string
		trace, parent string
	}{
		{"traceparent attribute", map[string]string{"traceparent": attrParent}, xray, "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"},
		{"AWSTraceHeader", nil, xray, "5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8"},
		{"none: a new trace", nil, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			h.g.Tracer = tp.Tracer(tracing.Instrumentation)
			ev := loadEvent(t)
			r := ev.Records[0] // accepted
			if r.MessageAttributes == nil {
				r.MessageAttributes = map[string]events.SQSMessageAttribute{}
			}
			for k, v := range tc.attrs {
				r.MessageAttributes[k] = events.SQSMessageAttribute{DataType: "String", StringValue: &v}
			}
			if tc.header != "" {
				r.Attributes["AWSTraceHeader"] = tc.header
			}
			if _, err := h.g.HandleSQSEvent(context.Background(), events.SQSEvent{Records: []events.SQSMessage{r}}); err != nil {
				t.Fatal(err)
			}
			spans := rec.Ended()
			if len(spans) != 1 || spans[0].Name() != tracing.SpanDecision {
				t.Fatalf("spans %v, want one decision span", spans)
			}
			s := spans[0]
			if tc.trace != "" && (s.SpanContext().TraceID().String() != tc.trace || s.Parent().SpanID().String() != tc.parent) {
				t.Errorf("decision span in trace %s under %s, want %s under %s", s.SpanContext().TraceID(), s.Parent().SpanID(), tc.trace, tc.parent)
			}
			if tc.trace == "" && s.Parent().IsValid() {
				t.Errorf("decision span has parent %s; the request carried none", s.Parent().SpanID())
			}
			if !hasAttr(s.Attributes(), "deployer.decision", "accepted") || !hasAttr(s.Attributes(), "deployer.job_id", "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E") {
				t.Errorf("decision span attributes %v", s.Attributes())
			}
			msgs, err := h.runs.Receive(context.Background(), queue.ReceiveOptions{Max: 10})
			if err != nil || len(msgs) != 1 {
				t.Fatalf("run orders %d, %v", len(msgs), err)
			}
			want := "00-" + s.SpanContext().TraceID().String() + "-" + s.SpanContext().SpanID().String() + "-"
			if tp := msgs[0].Attributes["traceparent"]; !strings.HasPrefix(tp, want) {
				t.Errorf("run order's traceparent %q, want the decision's %s…", tp, want)
			}
		})
	}
}

func hasAttr(kvs []attribute.KeyValue, k, v string) bool {
	for _, kv := range kvs {
		if string(kv.Key) == k && kv.Value.AsString() == v {
			return true
		}
	}
	return false
}
