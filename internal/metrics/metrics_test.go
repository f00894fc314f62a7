package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/internal/lane/sqlitelane"
	"github.com/deployerhq/deployer/internal/metrics"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/queue/sqlitequeue"
	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/schemas"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Scrape fetches url and parses it with the Prometheus text parser.
func Scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the Prometheus text parser refuses /metrics: %v", err)
	}
	return fams
}

// value returns the value of the family's series with labels (all of
// them given), and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		match := len(got) == len(labels)
		for k, v := range labels {
			match = match && got[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func TestServeMetrics(t *testing.T) {
	db, err := sqlitedb.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx := t.Context()
	broker, err := sqlitequeue.New(db, sqlitequeue.Options{SenderID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	lanes, err := sqlitelane.New(db, sqlitelane.Options{})
	if err != nil {
		t.Fatal(err)
	}
	queues := map[string]queue.Queue{}
	for _, name := range []string{topology.RequestQueue, topology.RequestDLQ, topology.RunDLQ, topology.LaneQueue("amis"), topology.CancelQueue} {
		if queues[name], err = broker.Create(ctx, name, queue.Config{}); err != nil {
			t.Fatal(err)
		}
	}
	send := func(name string, n int) {
		for range n {
			if _, err := queues[name].Send(ctx, queue.Outgoing{Body: []byte("x")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(topology.LaneQueue("amis"), 3)
	send(topology.RunDLQ, 2)
	if _, err := queues[topology.LaneQueue("amis")].Receive(ctx, queue.ReceiveOptions{Visibility: time.Minute}); err != nil {
		t.Fatal(err)
	}
	// Two jobs and a reservation hold slots of lane amis.
	for _, h := range []string{"job/01JD3Q8Z5W6X7Y8Z9A0B1C2D3E/1", "job/01JD3Q8Z5W6X7Y8Z9A0B1C2D3F/2", "host:1/abcdef"} {
		if ok, err := lanes.Acquire(ctx, "amis", 3, h, time.Minute); err != nil || !ok {
			t.Fatalf("Acquire(%s) = %v, %v", h, ok, err)
		}
	}

	m := metrics.New(metrics.Sources{
		Broker: broker, Lanes: lanes,
		LaneLimits: func() map[string]int { return map[string]int{"amis": 3, "deploys": 1} },
	})
	for range 3 {
		m.JobFinished("amis", schemas.OutcomeSucceeded, 90*time.Second)
	}
	m.JobFinished("amis", schemas.OutcomeFailed, 2*time.Second)
	m.JobFinished("amis", schemas.OutcomeCouldNotStart, 0)
	m.Decided("accepted", "none")
	m.Decided("rejected", "option_restricted")

	ln, err := metrics.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- m.Serve(sctx, ln) }()
	fams := Scrape(t, "http://"+ln.Addr().String()+"/metrics")
	stop()
	if err := <-served; err != nil {
		t.Fatalf("Serve after its context ended: %v", err)
	}

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"deployer_jobs_finished_total", map[string]string{"lane": "amis", "outcome": "succeeded"}, 3},
		{"deployer_jobs_finished_total", map[string]string{"lane": "amis", "outcome": "failed"}, 1},
		{"deployer_jobs_finished_total", map[string]string{"lane": "amis", "outcome": "could_not_start"}, 1},
		{"deployer_job_duration_seconds", map[string]string{"lane": "amis", "outcome": "succeeded"}, 3},
		{"deployer_job_duration_seconds", map[string]string{"lane": "amis", "outcome": "failed"}, 1},
		{"deployer_gatekeeper_decisions_total", map[string]string{"decision": "accepted", "reason": "none"}, 1},
		{"deployer_gatekeeper_decisions_total", map[string]string{"decision": "rejected", "reason": "option_restricted"}, 1},
		{"deployer_queue_messages", map[string]string{"queue": "runs-lane-amis", "state": "visible"}, 2},
		{"deployer_queue_messages", map[string]string{"queue": "runs-lane-amis", "state": "in_flight"}, 1},
		{"deployer_queue_messages", map[string]string{"queue": "runs-lane-amis", "state": "delayed"}, 0},
		{"deployer_queue_messages", map[string]string{"queue": "requests", "state": "visible"}, 0},
		{"deployer_dead_letters", map[string]string{"queue": "runs-dlq"}, 2},
		{"deployer_dead_letters", map[string]string{"queue": "requests-dlq"}, 0},
		{"deployer_lane_running_jobs", map[string]string{"lane": "amis"}, 2},
		{"deployer_lane_running_jobs", map[string]string{"lane": "deploys"}, 0},
		{"deployer_lane_job_limit", map[string]string{"lane": "amis"}, 3},
		{"deployer_lane_job_limit", map[string]string{"lane": "deploys"}, 1},
	} {
		if got, ok := value(fams, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if _, ok := value(fams, "deployer_job_duration_seconds", map[string]string{"lane": "amis", "outcome": "could_not_start"}); ok {
		t.Error("a job whose task never ran was observed in the duration histogram")
	}
	if _, ok := value(fams, "deployer_lane_running_jobs", map[string]string{"lane": "_cancel"}); ok {
		t.Error("the cancel queue's pseudo-lane is reported as a lane")
	}
	if age, ok := value(fams, "deployer_queue_oldest_message_age_seconds", map[string]string{"queue": "runs-lane-amis"}); !ok || age < 0 || age > 60 {
		t.Errorf("oldest message age of runs-lane-amis = %v (present %v)", age, ok)
	}
	if _, ok := value(fams, "deployer_queue_oldest_message_age_seconds", map[string]string{"queue": "requests"}); ok {
		t.Error("an empty queue has an oldest message age")
	}
	if fams["go_goroutines"] == nil || fams["process_cpu_seconds_total"] == nil {
		t.Error("the Go and process collectors are missing")
	}
	if f := fams["deployer_job_duration_seconds"]; f.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("deployer_job_duration_seconds is a %s", f.GetType())
	}
}

// A source that fails drops its gauges from the scrape and counts the
// failure; the rest is served.
func TestSourceFailureIsCounted(t *testing.T) {
	m := metrics.New(metrics.Sources{Broker: failingBroker{}})
	m.Decided("accepted", "none")
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	if v, ok := value(byName, "deployer_metrics_source_errors_total", map[string]string{"source": "queues"}); !ok || v != 1 {
		t.Errorf("source errors %v (present %v), want 1", v, ok)
	}
	if byName["deployer_queue_messages"] != nil {
		t.Error("queue gauges served from a failing broker")
	}
	if _, ok := value(byName, "deployer_gatekeeper_decisions_total", map[string]string{"decision": "accepted", "reason": "none"}); !ok {
		t.Error("the counters are missing")
	}
}

type failingBroker struct{ queue.Broker }

func (failingBroker) List(context.Context, string) ([]string, error) {
	return nil, errors.New("no access")
}

func TestListenRefusesABadAddress(t *testing.T) {
	if _, err := metrics.Listen(t.Context(), "nonsense"); err == nil {
		t.Fatal("Listen(nonsense) succeeded")
	}
}

func TestConfigLimits(t *testing.T) {
	c := schemas.Config{
		Lanes:      map[string]schemas.Lane{"amis": {Concurrency: 3}},
		Containers: map[string]schemas.Container{"a": {Lane: "amis"}, "b": {}},
	}
	got := metrics.ConfigLimits(c)
	if len(got) != 2 || got["amis"] != 3 || got["default"] != schemas.DefaultLaneLimit {
		t.Errorf("ConfigLimits = %v", got)
	}
}
