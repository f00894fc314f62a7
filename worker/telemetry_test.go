package worker_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/tracing"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/worker"
)

// finishes records what an Observer hears.
type finishes struct {
	mu  sync.Mutex
	got []string // "lane/outcome"
	ran []time.Duration
}

func (f *finishes) JobFinished(lane string, outcome schemas.Outcome, ran time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, lane+"/"+string(outcome))
	f.ran = append(f.ran, ran)
}

func (f *finishes) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

// A job's spans continue the trace its run order carries: queue wait,
// task start and run, the task's TRACEPARENT naming the run span; the
// observer hears of its end once (not of the attempt retried), and every
// log line about it carries its trace id.
func TestJobSpansAndObserver(t *testing.T) {
	const (
		job    = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"
		parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
		trace  = "0af7651916cd43dd8448eb211c80319c"
	)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	obs := &finishes{}
	var logged syncWriter
	r := newRig(t, func(o *worker.Options) {
		o.Tracer, o.Observer = tp.Tracer(tracing.Instrumentation), obs
		o.Logger = tracing.JSONLogger(&logged, slog.LevelInfo)
	})
	o := order(job)
	o.Retry = schemas.RetryPolicy{MaxAttempts: 2, OnExitCodes: []int{3}}
	o.Environment = map[string]string{"A": "1"}
	r.runner.mu.Lock()
	r.runner.exits[taskID(job, 1)] = 3
	r.runner.exits[taskID(job, 2)] = 0
	r.runner.mu.Unlock()
	if _, err := r.streams.Create(context.Background(), job, time.Hour); err != nil {
		t.Fatal(err)
	}
	body, err := o.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.lane.Send(context.Background(), queue.Outgoing{Body: body, Attributes: map[string]string{"traceparent": parent}}); err != nil {
		t.Fatal(err)
	}
	if ev, _ := r.terminal(t, job); ev.Outcome != schemas.OutcomeSucceeded {
		t.Fatalf("terminal event %+v", ev)
	}
	r.stop()

	if got := obs.list(); len(got) != 1 || got[0] != "default/succeeded" {
		t.Errorf("observer heard %v, want one default/succeeded", got)
	}
	spans := rec.Ended()
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		if s.SpanContext().TraceID().String() != trace {
			t.Errorf("span %q in trace %s, want %s", s.Name(), s.SpanContext().TraceID(), trace)
		}
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	for _, n := range []string{tracing.SpanQueueWait, tracing.SpanTaskStart, tracing.SpanRun} {
		if len(byName[n]) != 2 {
			t.Fatalf("%d %q spans, want one per attempt; spans: %v", len(byName[n]), n, names(spans))
		}
	}
	for i, run := range byName[tracing.SpanRun] {
		// Both attempts' runs are children of the order's parent, not of
		// each other.
		if run.Parent().SpanID().String() != "b7ad6b7169203331" {
			t.Errorf("run %d's parent %s, want the order's b7ad6b7169203331", i, run.Parent().SpanID())
		}
	}
	runs := map[string]bool{}
	for _, run := range byName[tracing.SpanRun] {
		runs[run.SpanContext().SpanID().String()] = true
	}
	for _, s := range byName[tracing.SpanTaskStart] {
		if !runs[s.Parent().SpanID().String()] {
			t.Errorf("task start's parent %s is no run span", s.Parent().SpanID())
		}
	}
	for attempt := 1; attempt <= 2; attempt++ {
		r.runner.mu.Lock()
		env := r.runner.specs[taskID(job, attempt)].Env
		r.runner.mu.Unlock()
		tp := env["TRACEPARENT"]
		if env["A"] != "1" || !strings.HasPrefix(tp, "00-"+trace+"-") || !runs[strings.Split(tp, "-")[2]] {
			t.Errorf("attempt %d's task environment %v: want A=1 and TRACEPARENT naming its run span", attempt, env)
		}
	}

	// Every line about the job names it, its attempt and its trace.
	n := 0
	for line := range strings.Lines(logged.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if rec["job_id"] != job {
			continue
		}
		n++
		if rec["trace_id"] != trace || rec["attempt"] == nil {
			t.Errorf("log line without attempt and trace_id %s: %s", trace, line)
		}
	}
	if n == 0 {
		t.Fatalf("no log line about the job:\n%s", logged.String())
	}
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}

// Without a tracer nothing is recorded, and a run order's trace context
// still reaches the task as it came.
func TestNoTracerPassesTheContextOn(t *testing.T) {
	const (
		job    = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3F"
		parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	)
	r := newRig(t)
	r.runner.mu.Lock()
	r.runner.exits[taskID(job, 1)] = 0
	r.runner.mu.Unlock()
	o := order(job)
	o.Request.TraceParent = parent // only the body's: the attribute is missing
	r.send(t, o)
	r.terminal(t, job)
	r.runner.mu.Lock()
	defer r.runner.mu.Unlock()
	if got := r.runner.specs[taskID(job, 1)].Env["TRACEPARENT"]; got != parent {
		t.Errorf("task's TRACEPARENT %q, want %q", got, parent)
	}
}

// A run order without a trace context gives its task none.
func TestNoTraceNoTraceParent(t *testing.T) {
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3G"
	r := newRig(t)
	r.runner.mu.Lock()
	r.runner.exits[taskID(job, 1)] = 0
	r.runner.mu.Unlock()
	r.send(t, order(job))
	r.terminal(t, job)
	r.runner.mu.Lock()
	defer r.runner.mu.Unlock()
	if env := r.runner.specs[taskID(job, 1)].Env; env != nil {
		t.Errorf("task environment %v, want none", env)
	}
}
