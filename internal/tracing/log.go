package tracing

import (
	"context"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Log attribute names LogHandler adds.
const (
	LogTraceID = "trace_id"
	LogSpanID  = "span_id"
)

// LogHandler wraps h so that a record logged with a context holding a
// valid span context (InfoContext and the like) carries its trace_id and
// span_id, unless the logger or the record names a trace_id already.
func LogHandler(h slog.Handler) slog.Handler { return &logHandler{h: h} }

type logHandler struct {
	h slog.Handler
	// named is set when the logger's attributes name a trace_id.
	named bool
}

func (l *logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.h.Enabled(ctx, level)
}

func (l *logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && !l.named && !names(r) {
		r = r.Clone()
		r.AddAttrs(slog.String(LogTraceID, sc.TraceID().String()), slog.String(LogSpanID, sc.SpanID().String()))
	}
	return l.h.Handle(ctx, r)
}

// names reports whether r has a trace_id attribute of its own.
func names(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == LogTraceID
		return !found
	})
	return found
}

func (l *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	named := l.named
	for _, a := range attrs {
		named = named || a.Key == LogTraceID
	}
	return &logHandler{h: l.h.WithAttrs(attrs), named: named}
}

func (l *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{h: l.h.WithGroup(name), named: l.named}
}

// JSONLogger is a service's logger: JSON lines on w at level, with the
// trace ids of LogHandler.
func JSONLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(LogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})))
}

// LogAttrs returns the trace_id of ctx's span context as
// logger attributes, for the logger of one job: none when it has no valid
// one.
func LogAttrs(ctx context.Context) []any {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	return []any{LogTraceID, sc.TraceID().String()}
}
