// Package extras are the parts of the command line that deployer leaves
// out to start faster, besides the AWS SDK (package awscli): Prometheus
// metrics ("deployer up --metrics-addr"), the OTLP span exporter (a
// command run with OTEL_EXPORTER_OTLP_ENDPOINT set) and the web dashboard
// ("deployer ui", "deployer up --ui-addr"). Their package init costs
// every process that links them ~0.9, ~0.8 and ~0.5 ms
// (docs/performance.md), paid by each "deployer run" of the embedded
// backend. deployer-aws and infrastructure-deployer link them
// (factory.Factory.Extras); deployer hands a command line that needs one
// to deployer-aws (factory.Extra).
package extras

import (
	"context"
	"log/slog"
	"net"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/cli/up"
	"github.com/deployerhq/deployer/internal/lane"
	"github.com/deployerhq/deployer/internal/metrics"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/tracing/otlp"
)

// Extras are the parts; the zero value is ready.
type Extras struct{}

var _ up.Metrics = Extras{}

// SpanExporter makes the OTLP/HTTP span exporter of a command that
// exports its spans.
func (Extras) SpanExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	return otlp.Exporter(ctx)
}

// ListenMetrics implements up.Metrics with Prometheus (package metrics).
func (Extras) ListenMetrics(ctx context.Context, addr string, b backend.Backend, live *policy.Live, log *slog.Logger) (up.MetricsServer, error) {
	ln, err := metrics.Listen(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &served{Metrics: metrics.New(sources(b, live, log)), ln: ln}, nil
}

// served are metrics with the listener they are served on.
type served struct {
	*metrics.Metrics
	ln net.Listener
}

func (s *served) Addr() net.Addr                  { return s.ln.Addr() }
func (s *served) Serve(ctx context.Context) error { return s.Metrics.Serve(ctx, s.ln) }

// sources are where the metrics of a pipeline served on b read its
// queues and lanes; the lanes' limits are the policy in force's.
func sources(b backend.Backend, live *policy.Live, log *slog.Logger) metrics.Sources {
	s := metrics.Sources{Logger: log, LaneLimits: func() map[string]int { return metrics.ConfigLimits(live.Config()) }}
	if m, ok := b.(interface {
		MetricSources() (queue.Broker, lane.Limiter)
	}); ok {
		s.Broker, s.Lanes = m.MetricSources()
	}
	return s
}
