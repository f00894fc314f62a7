// Package tracingtest is an OTLP/HTTP trace receiver for tests: an
// httptest server that decodes what exporters send (protobuf
// ExportTraceServiceRequest, gzipped or not) and lets a test wait for the
// spans it expects.
package tracingtest

import (
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

// Span is one received span.
type Span struct {
	Name                          string
	TraceID, SpanID, ParentSpanID string // lowercase hex; ParentSpanID "" for a root
	// Service is its resource's service.name.
	Service    string
	Attributes map[string]string
	Start, End time.Time
}

// Receiver collects the spans exported to it.
type Receiver struct {
	// URL is the base URL to set OTEL_EXPORTER_OTLP_ENDPOINT to; spans
	// are taken at URL + "/v1/traces".
	URL string

	srv   *httptest.Server
	mu    sync.Mutex
	spans []Span
	more  chan struct{} // closed and replaced when spans arrive
	bad   []string      // what could not be decoded
}

// Start starts a receiver on loopback, closed when the test ends.
func Start(tb testing.TB) *Receiver {
	tb.Helper()
	r := &Receiver{more: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.srv.URL
	tb.Cleanup(r.srv.Close)
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/v1/traces" || req.Method != http.MethodPost {
		http.NotFound(w, req)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		z, err := gzip.NewReader(req.Body)
		if err != nil {
			r.fail(w, fmt.Sprintf("gzip: %v", err))
			return
		}
		defer func() { _ = z.Close() }()
		body = z
	}
	data, err := io.ReadAll(body)
	if err != nil {
		r.fail(w, fmt.Sprintf("reading: %v", err))
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		r.fail(w, "content type "+ct+", want application/x-protobuf")
		return
	}
	var ex coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(data, &ex); err != nil {
		r.fail(w, fmt.Sprintf("decoding ExportTraceServiceRequest: %v", err))
		return
	}
	var got []Span
	for _, rs := range ex.GetResourceSpans() {
		service := attrs(rs.GetResource().GetAttributes())["service.name"]
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, Span{
					Name: s.GetName(), Service: service,
					TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					ParentSpanID: hex.EncodeToString(s.GetParentSpanId()),
					Attributes:   attrs(s.GetAttributes()),
					Start:        time.Unix(0, int64(s.GetStartTimeUnixNano())), //nolint:gosec // nanoseconds since 1970 fit
					End:          time.Unix(0, int64(s.GetEndTimeUnixNano())),   //nolint:gosec // nanoseconds since 1970 fit
				})
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	close(r.more)
	r.more = make(chan struct{})
	r.mu.Unlock()
	resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

func (r *Receiver) fail(w http.ResponseWriter, why string) {
	r.mu.Lock()
	r.bad = append(r.bad, why)
	r.mu.Unlock()
	http.Error(w, why, http.StatusBadRequest)
}

// attrs flattens OTLP attributes to strings.
func attrs(kvs []*commonpb.KeyValue) map[string]string {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch x := v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			out[kv.GetKey()] = x.StringValue
		case *commonpb.AnyValue_IntValue:
			out[kv.GetKey()] = fmt.Sprint(x.IntValue)
		case *commonpb.AnyValue_BoolValue:
			out[kv.GetKey()] = fmt.Sprint(x.BoolValue)
		default:
			out[kv.GetKey()] = v.String()
		}
	}
	return out
}

// Spans returns the spans received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.spans)
}

// Trace returns the received spans of one trace.
func (r *Receiver) Trace(traceID string) []Span {
	var out []Span
	for _, s := range r.Spans() {
		if s.TraceID == traceID {
			out = append(out, s)
		}
	}
	return out
}

// WaitFor waits up to d until the spans of traceID that match hold every
// name of names at least once, and returns the trace's spans. It fails
// the test at the deadline, naming what is missing, and at once when an
// export could not be decoded.
func (r *Receiver) WaitFor(tb testing.TB, traceID string, d time.Duration, names ...string) []Span {
	tb.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		more, bad := r.more, slices.Clone(r.bad)
		r.mu.Unlock()
		if len(bad) > 0 {
			tb.Fatalf("the OTLP receiver could not decode an export: %s", strings.Join(bad, "; "))
		}
		spans := r.Trace(traceID)
		if missing := Missing(spans, names...); len(missing) == 0 {
			return spans
		}
		select {
		case <-more:
		case <-deadline.C:
			tb.Fatalf("trace %s: no span %q within %s; received:\n%s", traceID, Missing(r.Trace(traceID), names...), d, Describe(r.Spans()))
		}
	}
}

// Missing returns the names of names no span of spans has.
func Missing(spans []Span, names ...string) []string {
	var missing []string
	for _, n := range names {
		if !slices.ContainsFunc(spans, func(s Span) bool { return s.Name == n }) {
			missing = append(missing, n)
		}
	}
	return missing
}

// Describe lists spans one a line, for failure messages.
func Describe(spans []Span) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "  %s %q service=%s trace=%s span=%s parent=%s %v\n", s.Start.Format(time.RFC3339Nano), s.Name, s.Service, s.TraceID, s.SpanID, s.ParentSpanID, s.Attributes)
	}
	return b.String()
}
