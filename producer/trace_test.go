package producer

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/tracing"
	"github.com/deployerhq/deployer/schemas"
)

// sentQueue records the messages sent.
type sentQueue struct {
	queue.Queue
	sent []queue.Outgoing
}

func (q *sentQueue) Send(_ context.Context, msgs ...queue.Outgoing) ([]string, error) {
	q.sent = append(q.sent, msgs...)
	return make([]string, len(msgs)), nil
}

const (
	ciParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	ciTrace  = "0af7651916cd43dd8448eb211c80319c"
)

func ciContext() context.Context {
	return tracing.FromEnv(context.Background(), func(k string) string {
		return map[string]string{"TRACEPARENT": ciParent, "TRACESTATE": "ci=1"}[k]
	})
}

// Submit puts its enqueue span, a child of the caller's trace, in the
// request (TraceParent) and in the message's attributes.
func TestSubmitCarriesTheTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev); _ = tp.Shutdown(context.Background()) })

	q := &sentQueue{}
	cl := &Client{Requests: q, Streams: &createOnly{}}
	job, err := cl.Submit(ciContext(), Request{Container: "c", Script: "s"})
	if err != nil || len(q.sent) != 1 {
		t.Fatalf("Submit = %v, %d sent", err, len(q.sent))
	}
	var enqueue sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == tracing.SpanEnqueue && s.Parent().SpanID().String() == "b7ad6b7169203331" {
			enqueue = s
		}
	}
	if enqueue == nil {
		t.Fatalf("no enqueue span under the caller's; spans: %v", rec.Ended())
	}
	want := "00-" + ciTrace + "-" + enqueue.SpanContext().SpanID().String() + "-01"
	req, err := schemas.DecodeJobRequest(q.sent[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	if req.JobID != job.ID || req.TraceParent != want {
		t.Errorf("request's traceparent %q, want %q", req.TraceParent, want)
	}
	if a := q.sent[0].Attributes; a["traceparent"] != want || a["tracestate"] != "ci=1" {
		t.Errorf("message attributes %v, want traceparent %s and tracestate ci=1", a, want)
	}
}

// With the no-op provider (no exporter) the caller's trace context is
// passed on as it is; without one nothing is added.
func TestSubmitWithoutTracing(t *testing.T) {
	q := &sentQueue{}
	cl := &Client{Requests: q, Streams: &createOnly{}}
	if _, err := cl.Submit(ciContext(), Request{Container: "c", Script: "s"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Submit(context.Background(), Request{Container: "c", Script: "s"}); err != nil {
		t.Fatal(err)
	}
	first, _ := schemas.DecodeJobRequest(q.sent[0].Body)
	if !strings.Contains(first.TraceParent, ciTrace) || q.sent[0].Attributes["traceparent"] != first.TraceParent {
		t.Errorf("with a caller's trace: request %q, attributes %v", first.TraceParent, q.sent[0].Attributes)
	}
	second, _ := schemas.DecodeJobRequest(q.sent[1].Body)
	if second.TraceParent != "" || len(q.sent[1].Attributes) != 2 {
		t.Errorf("without a trace: request %q, attributes %v; want none added", second.TraceParent, q.sent[1].Attributes)
	}
}
