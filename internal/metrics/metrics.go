package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/internal/lane"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/worker"
)

// DefaultScrapeTimeout bounds the backend calls of one scrape.
const DefaultScrapeTimeout = 10 * time.Second

// DurationBuckets are the job duration histogram's buckets, in seconds:
// from a quick plan to a long AMI build.
var DurationBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400}

// Sources are where the gauges are read at each scrape. Every field is
// optional: without Broker there are no queue gauges, without Lanes no
// lane gauges.
type Sources struct {
	// Broker is the backend's queue broker: the request, dead-letter and
	// lane run queues are read from it (never the jobs' own stream
	// queues).
	Broker queue.Broker
	// Lanes are the lane leases; a lane's running jobs are its leases held
	// by a job (worker.JobOfLease).
	Lanes lane.Limiter
	// LaneLimits returns the known lanes' limits (the configuration's, or
	// what a worker learned from run orders). The lanes reported are
	// these and those with a run queue.
	LaneLimits func() map[string]int
	// Timeout bounds the backend calls of one scrape. Defaults to
	// DefaultScrapeTimeout.
	Timeout time.Duration
	// Logger reports what a scrape could not read. Defaults to
	// discarding.
	Logger *slog.Logger
}

// Metrics is one process's metrics. It is safe for concurrent use.
type Metrics struct {
	registry  *prometheus.Registry
	finished  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	decisions *prometheus.CounterVec
}

var (
	_ gatekeeper.Observer = (*Metrics)(nil)
	_ worker.Observer     = (*Metrics)(nil)
)

// New returns the metrics of a process reading its gauges from s, in a
// registry of their own.
func New(s Sources) *Metrics {
	if s.Timeout <= 0 {
		s.Timeout = DefaultScrapeTimeout
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deployer_jobs_finished_total",
			Help: "Jobs this process's worker ended, by lane and outcome (a retried attempt is not an end; canaries are not counted).",
		}, []string{"lane", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "deployer_job_duration_seconds",
			Help:    "How long the tasks of the jobs this process's worker ended ran, by lane and outcome (jobs whose task never ran are not observed).",
			Buckets: DurationBuckets,
		}, []string{"lane", "outcome"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deployer_gatekeeper_decisions_total",
			Help: `Requests this process's gatekeeper decided, by decision (accepted, rejected, dead_lettered) and reason code ("none" when accepted).`,
		}, []string{"decision", "reason"}),
	}
	m.registry.MustRegister(m.finished, m.duration, m.decisions,
		&state{s: s, errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deployer_metrics_source_errors_total",
			Help: "Scrapes that could not read a source (queues, lanes): its gauges are missing from them.",
		}, []string{"source"})},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// JobFinished counts a job the worker ended (worker.Observer).
func (m *Metrics) JobFinished(lane string, outcome schemas.Outcome, ran time.Duration) {
	m.finished.WithLabelValues(lane, string(outcome)).Inc()
	if ran > 0 {
		m.duration.WithLabelValues(lane, string(outcome)).Observe(ran.Seconds())
	}
}

// Decided counts a gatekeeper decision (gatekeeper.Observer).
func (m *Metrics) Decided(decision, reason string) {
	m.decisions.WithLabelValues(decision, reason).Inc()
}

// Registry is the registry the metrics are in.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// Listen listens on addr (host:port; port 0 picks a free one) for Serve.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serving metrics on %s: %w (--metrics-addr takes host:port, such as 127.0.0.1:9464)", addr, err)
	}
	return ln, nil
}

// Serve serves the metrics on ln at /metrics until ctx ends, then closes
// it. It returns nil once stopped by ctx.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serving metrics: %w", err)
}

// state is the collector of the gauges read at each scrape.
type state struct {
	s      Sources
	errors *prometheus.CounterVec
}

var (
	descMessages = prometheus.NewDesc("deployer_queue_messages",
		"Messages in a queue, by state: visible (waiting), in_flight (received, not deleted) and delayed; approximate on SQS.",
		[]string{"queue", "state"}, nil)
	descOldest = prometheus.NewDesc("deployer_queue_oldest_message_age_seconds",
		"Age of a queue's oldest message; absent where the backend does not tell (SQS: see the CloudWatch metric ApproximateAgeOfOldestMessage) and for an empty queue.",
		[]string{"queue"}, nil)
	descDeadLetters = prometheus.NewDesc("deployer_dead_letters",
		"Messages in a dead-letter queue (runs-dlq: failed jobs; requests-dlq: requests that could not be handled).",
		[]string{"queue"}, nil)
	descRunning = prometheus.NewDesc("deployer_lane_running_jobs",
		"Jobs holding a slot of a lane now, across every worker.",
		[]string{"lane"}, nil)
	descLimit = prometheus.NewDesc("deployer_lane_job_limit",
		"A lane's concurrency limit: how many of its jobs may run at once.",
		[]string{"lane"}, nil)
)

func (c *state) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMessages, descOldest, descDeadLetters, descRunning, descLimit} {
		ch <- d
	}
	c.errors.Describe(ch)
}

func (c *state) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.s.Timeout)
	defer cancel()
	lanes := map[string]bool{}
	if c.s.Broker != nil {
		if err := c.queues(ctx, ch, lanes); err != nil {
			c.failed("queues", err)
		}
	}
	limits := map[string]int{}
	if c.s.LaneLimits != nil {
		limits = c.s.LaneLimits()
	}
	for l, n := range limits {
		lanes[l] = true
		ch <- prometheus.MustNewConstMetric(descLimit, prometheus.GaugeValue, float64(n), l)
	}
	if c.s.Lanes != nil {
		if err := c.running(ctx, ch, lanes); err != nil {
			c.failed("lanes", err)
		}
	}
	c.errors.Collect(ch)
}

func (c *state) failed(source string, err error) {
	c.errors.WithLabelValues(source).Inc()
	c.s.Logger.Warn("metrics: reading "+source, "err", err)
}

// queues reports the pipeline's queues, and notes the lanes that have a
// run queue.
func (c *state) queues(ctx context.Context, ch chan<- prometheus.Metric, lanes map[string]bool) error {
	names, err := c.s.Broker.List(ctx, topology.LaneQueuePrefix)
	if err != nil {
		return fmt.Errorf("listing lane queues: %w", err)
	}
	names = append(names, topology.RequestQueue, topology.RequestDLQ, topology.RunDLQ)
	slices.Sort(names)
	var errs []error
	for _, name := range slices.Compact(names) {
		st, err := c.s.Broker.Stats(ctx, name)
		if errors.Is(err, queue.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if l, ok := strings.CutPrefix(name, topology.LaneQueuePrefix); ok && l != topology.CancelLane {
			lanes[l] = true
		}
		for state, n := range map[string]int{"visible": st.Visible, "in_flight": st.InFlight, "delayed": st.Delayed} {
			ch <- prometheus.MustNewConstMetric(descMessages, prometheus.GaugeValue, float64(n), name, state)
		}
		if st.AgeKnown {
			ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, st.OldestAge.Seconds(), name)
		}
		if name == topology.RequestDLQ || name == topology.RunDLQ {
			ch <- prometheus.MustNewConstMetric(descDeadLetters, prometheus.GaugeValue, float64(st.Visible+st.InFlight+st.Delayed), name)
		}
	}
	return errors.Join(errs...)
}

// running reports how many jobs hold a slot of each lane.
func (c *state) running(ctx context.Context, ch chan<- prometheus.Metric, lanes map[string]bool) error {
	var errs []error
	for l := range lanes {
		leases, err := c.s.Lanes.Leases(ctx, l)
		if err != nil {
			errs = append(errs, fmt.Errorf("lane %s: %w", l, err))
			continue
		}
		n := 0
		for _, ls := range leases {
			if _, _, ok := worker.JobOfLease(ls.Holder); ok {
				n++
			}
		}
		ch <- prometheus.MustNewConstMetric(descRunning, prometheus.GaugeValue, float64(n), l)
	}
	return errors.Join(errs...)
}

// ConfigLimits returns the limits of the lanes a configuration uses: its
// lanes' and, when a container runs in it, the default lane's.
func ConfigLimits(c schemas.Config) map[string]int {
	out := map[string]int{}
	for name, l := range c.Lanes {
		out[name] = l.Concurrency
	}
	for _, ct := range c.Containers {
		if ct.Lane == "" || ct.Lane == schemas.DefaultLane {
			if _, ok := out[schemas.DefaultLane]; !ok {
				out[schemas.DefaultLane] = schemas.DefaultLaneLimit
			}
		}
	}
	return out
}
