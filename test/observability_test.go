package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/deployerhq/deployer/internal/metrics/emf"
	"github.com/deployerhq/deployer/internal/metrics/emf/emftest"
	"github.com/deployerhq/deployer/internal/stream/sqsstream"
	"github.com/deployerhq/deployer/internal/tracing"
	"github.com/deployerhq/deployer/internal/tracing/tracingtest"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// Observability end to end: "deployer up --metrics-addr" serves metrics
// the Prometheus text parser reads and whose counts are the jobs run; a
// trace CI starts (TRACEPARENT) reaches the task's environment through
// the gatekeeper and the worker, on both backends, and every step's span
// reaches an OTLP/HTTP receiver.

const observabilityConfig = `
lanes:
  deploys: {concurrency: 2}
containers:
  app:
    local: {scripts_dir: SCRIPTS}
    task_definition: deployer
    lane: deploys
    allowed_callers: ["arn:aws:iam::123456789012:role/ci-*", "user:*"]
    timeout: 5m
    script_config:
      ok: {allowed_options: []}
      fail: {allowed_options: []}
      trace: {allowed_options: []}
`

var observabilityScripts = map[string]string{
	"ok":    "#!/bin/sh\necho fine\n",
	"fail":  "#!/bin/sh\necho 'failing on purpose'\nexit 3\n",
	"trace": "#!/bin/sh\necho \"traceparent=$TRACEPARENT\"\n",
}

var metricsOn = regexp.MustCompile(`deployer: metrics on (http://\S+/metrics)`)

// scrape reads url with the Prometheus text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET %s: content type %q, want the text format", url, ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the Prometheus text parser refuses %s: %v", url, err)
	}
	return fams
}

// sum adds the values of a family's series whose labels include match
// (a histogram's series count their observations).
func sum(fams map[string]*dto.MetricFamily, name string, match map[string]string) float64 {
	total := 0.0
	for _, m := range fams[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		ok := true
		for k, v := range match {
			ok = ok && labels[k] == v
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

// expectation is one sum a scrape must show.
type expectation struct {
	name  string
	match map[string]string
	want  float64
}

// waitMetrics scrapes url until every expectation holds, up to d: a job's
// count follows its terminal event by a moment. It returns the last
// scrape.
func waitMetrics(t *testing.T, url string, d time.Duration, want ...expectation) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		fams := scrape(t, url)
		var wrong []string
		for _, e := range want {
			if got := sum(fams, e.name, e.match); got != e.want {
				wrong = append(wrong, fmt.Sprintf("%s%v = %v, want %v", e.name, e.match, got, e.want))
			}
		}
		if len(wrong) == 0 {
			return fams
		}
		select {
		case <-deadline.C:
			t.Fatalf("metrics at %s after %s:\n  %s", url, d, strings.Join(wrong, "\n  "))
		case <-tick.C:
		}
	}
}

// TestMetricsEndToEnd: "deployer up --metrics-addr 127.0.0.1:0" prints
// where it serves, and after 3 jobs that succeed, 1 that fails and 1 the
// gatekeeper rejects, /metrics says so.
func TestMetricsEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, observabilityConfig, observabilityScripts)
	up := e.start("up", "--metrics-addr", "127.0.0.1:0")
	url := up.stderr.waitFor(t, metricsOn, time.Minute)[1]
	up.stderr.waitFor(t, regexp.MustCompile(`deployer: serving`), time.Minute)

	// Before any job: the lanes and queues are there, empty.
	waitMetrics(t, url, 10*time.Second,
		expectation{"deployer_lane_job_limit", map[string]string{"lane": "deploys"}, 2},
		expectation{"deployer_lane_running_jobs", map[string]string{"lane": "deploys"}, 0},
		expectation{"deployer_queue_messages", map[string]string{"queue": "runs-lane-deploys"}, 0},
		expectation{"deployer_dead_letters", map[string]string{"queue": "runs-dlq"}, 0},
	)
	for range 3 {
		if r := e.run("run", "--", "app", "ok"); r.code != 0 {
			t.Fatalf("run ok: exit %d\n%s", r.code, r.stderr)
		}
	}
	if r := e.run("run", "--", "app", "fail"); r.code != 3 {
		t.Fatalf("run fail: exit %d, want 3\n%s", r.code, r.stderr)
	}
	if r := e.run("run", "--", "app", "ok", "--not-allowed"); r.code != producer.ExitRejected {
		t.Fatalf("run with a refused option: exit %d, want %d\n%s", r.code, producer.ExitRejected, r.stderr)
	}
	fams := waitMetrics(t, url, 30*time.Second,
		expectation{"deployer_jobs_finished_total", map[string]string{"outcome": "succeeded"}, 3},
		expectation{"deployer_jobs_finished_total", map[string]string{"outcome": "failed"}, 1},
		expectation{"deployer_jobs_finished_total", nil, 4},
		expectation{"deployer_jobs_finished_total", map[string]string{"lane": "deploys"}, 4},
		expectation{"deployer_job_duration_seconds", map[string]string{"lane": "deploys", "outcome": "succeeded"}, 3},
		expectation{"deployer_job_duration_seconds", map[string]string{"outcome": "failed"}, 1},
		expectation{"deployer_gatekeeper_decisions_total", map[string]string{"decision": "accepted", "reason": "none"}, 4},
		expectation{"deployer_gatekeeper_decisions_total", map[string]string{"decision": "rejected"}, 1},
		expectation{"deployer_dead_letters", map[string]string{"queue": "runs-dlq"}, 1},
		expectation{"deployer_queue_messages", map[string]string{"queue": "runs-dlq", "state": "visible"}, 1},
		expectation{"deployer_lane_running_jobs", map[string]string{"lane": "deploys"}, 0},
	)
	if got := sum(fams, "deployer_gatekeeper_decisions_total", map[string]string{"decision": "rejected", "reason": "option_not_allowed"}); got != 1 {
		t.Errorf("the rejection's reason: %v", fams["deployer_gatekeeper_decisions_total"])
	}
	for _, name := range []string{"deployer_jobs_finished_total", "deployer_gatekeeper_decisions_total", "deployer_metrics_source_errors_total"} {
		if f := fams[name]; f != nil && f.GetType() != dto.MetricType_COUNTER {
			t.Errorf("%s is a %s, want a counter", name, f.GetType())
		}
	}
	if f := fams["deployer_job_duration_seconds"]; f.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("deployer_job_duration_seconds is a %s, want a histogram", f.GetType())
	}
	if got := sum(fams, "deployer_metrics_source_errors_total", nil); got != 0 {
		t.Errorf("%v scrapes could not read a source; up said:\n%s", got, up.stderr.text())
	}
}

// ciTrace is the trace a CI run passes in TRACEPARENT.
const (
	ciTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	ciParentSpan  = "00f067aa0ba902b7"
	ciTraceParent = "00-" + ciTraceID + "-" + ciParentSpan + "-01"
)

// jobSpans are the spans of a job's way from CI to its task.
var jobSpans = []string{tracing.SpanEnqueue, tracing.SpanDecision, tracing.SpanQueueWait, tracing.SpanTaskStart, tracing.SpanRun}

// checkJobTrace checks the spans of one job's trace, parent by parent,
// and that its task saw the run span as TRACEPARENT (output is the
// trace script's).
func checkJobTrace(t *testing.T, r *tracingtest.Receiver, output string) {
	t.Helper()
	spans := r.WaitFor(t, ciTraceID, time.Minute, jobSpans...)
	byName := map[string]tracingtest.Span{}
	for _, s := range spans {
		if _, seen := byName[s.Name]; seen {
			t.Errorf("two %q spans in the trace:\n%s", s.Name, tracingtest.Describe(spans))
		}
		byName[s.Name] = s
	}
	for _, c := range []struct{ span, parent string }{
		{tracing.SpanDecision, tracing.SpanEnqueue},
		{tracing.SpanQueueWait, tracing.SpanDecision},
		{tracing.SpanRun, tracing.SpanDecision},
		{tracing.SpanTaskStart, tracing.SpanRun},
	} {
		if got, want := byName[c.span].ParentSpanID, byName[c.parent].SpanID; got != want {
			t.Errorf("%q's parent is %s, want %q (%s):\n%s", c.span, got, c.parent, want, tracingtest.Describe(spans))
		}
	}
	if got := byName[tracing.SpanEnqueue].ParentSpanID; got != ciParentSpan {
		t.Errorf("enqueue's parent is %s, want CI's %s", got, ciParentSpan)
	}
	want := "traceparent=00-" + ciTraceID + "-" + byName[tracing.SpanRun].SpanID + "-01"
	if !strings.Contains(output, want) {
		t.Errorf("the task's output %q lacks %q: its TRACEPARENT is not the run span's", output, want)
	}
	if byName[tracing.SpanRun].Attributes["deployer.outcome"] != "succeeded" {
		t.Errorf("run span attributes %v", byName[tracing.SpanRun].Attributes)
	}
}

// otelEnv points a process's exporter at the receiver, exporting at
// once rather than every 5s.
func otelEnv(r *tracingtest.Receiver) []string {
	return []string{tracing.EnvEndpoint + "=" + r.URL, "OTEL_BSP_SCHEDULE_DELAY=50", "OTEL_TRACES_SAMPLER="}
}

// TestTraceEndToEndEmbedded: a trace started in CI reaches the task's
// environment on the embedded backend, with every step's span.
func TestTraceEndToEndEmbedded(t *testing.T) {
	t.Parallel()
	r := tracingtest.Start(t)
	e := newEnv(t, observabilityConfig, observabilityScripts)
	e.extraEnv = append(e.extraEnv, otelEnv(r)...)
	up := e.start("up", "--verbose")
	up.stderr.waitFor(t, regexp.MustCompile(`deployer: serving`), time.Minute)
	e.extraEnv = append(e.extraEnv, "TRACEPARENT="+ciTraceParent, "TRACESTATE=ci=1")
	res := e.run("run", "--", "app", "trace")
	if res.code != 0 {
		t.Fatalf("run trace: exit %d\n%s", res.code, res.stderr)
	}
	checkJobTrace(t, r, res.stdout)

	// The log lines about the job are JSON, with its job id, attempt and
	// trace id, every one of them.
	jobID := jobSubmitted.FindStringSubmatch(res.stderr)
	if jobID == nil {
		t.Fatalf("no job id in run's output:\n%s", res.stderr)
	}
	up.stderr.waitFor(t, regexp.MustCompile(`"msg":"job finished"`), 10*time.Second)
	n := 0
	for _, l := range strings.Split(up.stderr.text(), "\n") {
		if strings.HasPrefix(l, "deployer: ") {
			continue // up's own status lines, for the person who started it
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("up's log line is not JSON: %s", l)
			continue
		}
		if rec["job_id"] != jobID[1] {
			continue
		}
		n++
		if rec["trace_id"] != ciTraceID || rec["attempt"] != 1.0 {
			t.Errorf("log line about job %s without attempt 1 and trace_id %s: %s", jobID[1], ciTraceID, l)
		}
	}
	if n < 3 {
		t.Errorf("%d log lines about job %s, want its acceptance, start and end:\n%s", n, jobID[1], up.stderr.text())
	}
}

// TestTraceEndToEndAWS: the same on the AWS backend (SQS, ECS and
// CloudWatch Logs as the fakes speak them), TRACEPARENT reaching the task
// through the ECS container overrides.
func TestTraceEndToEndAWS(t *testing.T) {
	t.Parallel()
	r := tracingtest.Start(t)
	e := newEnv(t, observabilityConfig, observabilityScripts)
	startAWSFakes(t, e)
	e.extraEnv = append(e.extraEnv, otelEnv(r)...)
	up := e.start("up", "--provision", "--verbose", "--metrics-addr", "127.0.0.1:0")
	url := up.stderr.waitFor(t, metricsOn, time.Minute)[1]
	up.stderr.waitFor(t, regexp.MustCompile(`serving AWS deployment`), time.Minute)
	e.extraEnv = append(e.extraEnv, "TRACEPARENT="+ciTraceParent)
	res := e.run("run", "--", "app", "trace")
	if res.code != 0 {
		t.Fatalf("run trace: exit %d\n%s", res.code, res.stderr)
	}
	checkJobTrace(t, r, res.stdout)
	// The AWS backend's queues and lanes, through the same metrics.
	waitMetrics(t, url, 30*time.Second,
		expectation{"deployer_jobs_finished_total", map[string]string{"lane": "deploys", "outcome": "succeeded"}, 1},
		expectation{"deployer_lane_job_limit", map[string]string{"lane": "deploys"}, 2},
		expectation{"deployer_dead_letters", map[string]string{"queue": "runs-dlq"}, 0},
		expectation{"deployer_queue_messages", map[string]string{"queue": "requests", "state": "visible"}, 0},
	)
}

// Without an endpoint nothing is exported and the trace id still reaches
// the task: the CI's own context passes through unchanged.
func TestTraceParentWithoutExporter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, observabilityConfig, observabilityScripts)
	up := e.start("up")
	up.stderr.waitFor(t, regexp.MustCompile(`deployer: serving`), time.Minute)
	e.extraEnv = append(e.extraEnv, "TRACEPARENT="+ciTraceParent)
	res := e.run("run", "--", "app", "trace")
	if res.code != 0 || !strings.Contains(res.stdout, "traceparent="+ciTraceParent) {
		t.Fatalf("run trace: exit %d, stdout %q; want the CI's traceparent as it came\n%s", res.code, res.stdout, res.stderr)
	}
}

// TestGatekeeperLambdaEMFAndXRay runs the gatekeeper's Lambda package
// under the Runtime Interface Emulator: after an invocation whose batch
// holds a request and a garbage record, the function's output holds one
// EMF line per decision that CloudWatch would turn into metrics; and the
// request, which carries no traceparent but the AWSTraceHeader X-Ray set,
// is decided in a span of that X-Ray trace, exported to OTLP.
func TestGatekeeperLambdaEMFAndXRay(t *testing.T) {
	t.Parallel()
	r := tracingtest.Start(t)
	e := newEnv(t, awsConfig, awsScripts)
	startAWSFakes(t, e)
	up := e.start("up", "--provision")
	up.stderr.waitFor(t, regexp.MustCompile(`serving AWS deployment`), time.Minute)
	_ = up.cmd.Process.Signal(os.Interrupt)
	up.wait(t, time.Minute)

	fn := startLambda(t, "deployer-gatekeeper", gatekeeperPkg, e.environ(append(otelEnv(r), "DEPLOYER_CONFIG="+e.config)...))
	if res := e.run("run", "--no-wait", "--", "infra", "hello", "emf"); res.code != 0 {
		t.Fatalf("run --no-wait: exit %d\n%s", res.code, res.stderr)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	client := e.sqsClient(t)
	u, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("deployer-requests")})
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.ReceiveMessage(ctx, receiveBatch(u.QueueUrl, 5))
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("received %d requests (%v), want 1", len(out.Messages), err)
	}
	const (
		xray       = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
		xrayTrace  = "5759e988bd862e3fe1be46a994272793"
		xrayParent = "53995c3f42cd8ad8"
	)
	req := sqsRecord(out.Messages[0], "deployer-requests")
	if _, ok := req.MessageAttributes["traceparent"]; ok {
		t.Fatalf("a request sent without TRACEPARENT or an exporter carries a traceparent: %v", req.MessageAttributes)
	}
	req.Attributes["AWSTraceHeader"] = xray
	ev := events.SQSEvent{Records: []events.SQSMessage{req,
		{MessageId: "garbage-1", ReceiptHandle: "r", Body: "{not json", EventSource: "aws:sqs", AWSRegion: "us-east-1",
			Attributes: map[string]string{"SenderId": "AROACIROLE:ci", "ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"}},
	}}
	if body, err := fn.invoke(ctx, ev); err != nil {
		t.Fatalf("invocation: %s (%v); the function said:\n%s", body, err, fn.output())
	}

	// The emulator's output holds the function's stdout and stderr: its
	// JSON log lines, and the EMF lines (those with an _aws member).
	if !fn.out.waitFor(30*time.Second, `"Decision":"accepted"`, `"Decision":"dead_lettered"`) {
		t.Fatalf("no EMF lines for both decisions; the function said:\n%s", fn.output())
	}
	got := map[string]float64{}
	for _, l := range strings.Split(fn.output(), "\n") {
		if i := strings.Index(l, `{"_aws"`); i >= 0 {
			doc, err := emftest.Parse([]byte(l[i:]))
			if err != nil {
				t.Errorf("not valid EMF: %v\n%s", err, l)
				continue
			}
			if doc.Namespace != emf.Namespace || doc.Metrics[emf.MetricDecisions] != "Count" || doc.Values["Deployment"] != "deployer-" {
				t.Errorf("EMF document %+v", doc)
			}
			n, _ := doc.Values[emf.MetricDecisions].(json.Number).Float64()
			got[fmt.Sprintf("%v/%v", doc.Values["Decision"], doc.Values["Reason"])] += n
		}
	}
	if want := map[string]float64{"accepted/none": 1, "dead_lettered/malformed_request": 1}; !maps.Equal(got, want) {
		t.Errorf("EMF decisions %v, want %v", got, want)
	}

	spans := r.WaitFor(t, xrayTrace, time.Minute, tracing.SpanDecision)
	if d := spans[0]; d.ParentSpanID != xrayParent || d.Service != "deployer-gatekeeper" {
		t.Errorf("decision span %+v: want the X-Ray parent %s, service deployer-gatekeeper", d, xrayParent)
	}
}

// TestWorkerDaemonMetricsAndTrace runs the AWS worker daemon with
// --metrics-addr and an OTLP endpoint: a run order the test sends to a
// lane's run queue, as the gatekeeper would with its decision's context
// in the traceparent attribute, runs as an ECS task whose environment
// has the run span as TRACEPARENT; the daemon's /metrics counts it, and
// its spans continue the order's trace.
func TestWorkerDaemonMetricsAndTrace(t *testing.T) {
	t.Parallel()
	r := tracingtest.Start(t)
	e := newEnv(t, observabilityConfig, observabilityScripts)
	startAWSFakes(t, e)
	up := e.start("up", "--provision")
	up.stderr.waitFor(t, regexp.MustCompile(`serving AWS deployment`), time.Minute)
	_ = up.cmd.Process.Signal(os.Interrupt)
	up.wait(t, time.Minute)

	out := &syncBuffer{}
	w := exec.Command(workerBin, "--poll", "200ms", "--drain-timeout", "0s", "--metrics-addr", "127.0.0.1:0")
	w.Env, w.Stdout, w.Stderr = e.environ(otelEnv(r)...), out, out
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = w.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = w.Process.Kill()
		<-exited
	})
	if !out.waitFor(time.Minute, `"msg":"serving metrics"`) {
		t.Fatalf("the worker does not say where it serves metrics:\n%s", out.String())
	}
	m := regexp.MustCompile(`"url":"(http://[^"]+/metrics)"`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no metrics URL in the worker's log:\n%s", out.String())
	}
	url := m[1]
	waitMetrics(t, url, 30*time.Second,
		expectation{"deployer_queue_messages", map[string]string{"queue": "runs-lane-deploys"}, 0},
		expectation{"deployer_dead_letters", map[string]string{"queue": "runs-dlq"}, 0},
	)

	jobID := producer.NewJobID()
	req := schemas.JobRequest{JobID: jobID, Container: "app", Script: "trace", Stream: sqsstream.Address(jobID), Attempt: 1, SubmittedAt: time.Now().UTC()}
	order := schemas.RunOrder{
		JobID: jobID, Attempt: 1, Request: req, Container: "app", Script: "trace", TaskDefinition: "deployer",
		Timeout: schemas.Duration(5 * time.Minute), Lane: "deploys", LaneLimit: 2, Stream: req.Stream,
		Caller: schemas.Identity{Principal: "arn:aws:iam::123456789012:role/ci-deployer"}, AcceptedAt: time.Now().UTC(),
	}
	body, err := order.Encode()
	if err != nil {
		t.Fatal(err)
	}
	client := e.sqsClient(t)
	q, err := client.GetQueueUrl(t.Context(), &sqs.GetQueueUrlInput{QueueName: aws.String("deployer-runs-lane-deploys")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.SendMessage(t.Context(), &sqs.SendMessageInput{
		QueueUrl: q.QueueUrl, MessageBody: aws.String(string(body)),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"traceparent": {DataType: aws.String("String"), StringValue: aws.String(ciTraceParent)},
		},
	}); err != nil {
		t.Fatal(err)
	}

	waitMetrics(t, url, time.Minute,
		expectation{"deployer_jobs_finished_total", map[string]string{"lane": "deploys", "outcome": "succeeded"}, 1},
		expectation{"deployer_job_duration_seconds", map[string]string{"lane": "deploys"}, 1},
		expectation{"deployer_lane_job_limit", map[string]string{"lane": "deploys"}, 2},
		expectation{"deployer_lane_running_jobs", map[string]string{"lane": "deploys"}, 0},
	)
	spans := r.WaitFor(t, ciTraceID, time.Minute, tracing.SpanQueueWait, tracing.SpanTaskStart, tracing.SpanRun)
	var run tracingtest.Span
	for _, s := range spans {
		if s.Name == tracing.SpanRun {
			run = s
		}
		if s.Service != "deployer-worker" {
			t.Errorf("span %q of service %q, want deployer-worker", s.Name, s.Service)
		}
	}
	if run.ParentSpanID != ciParentSpan {
		t.Errorf("run span's parent %s, want the order's %s:\n%s", run.ParentSpanID, ciParentSpan, tracingtest.Describe(spans))
	}
	want := "traceparent=00-" + ciTraceID + "-" + run.SpanID + "-01"
	if res := e.run("logs", jobID); res.code != 0 || !strings.Contains(res.stdout, want) {
		t.Errorf("logs %s: exit %d, stdout %q; want %q\n%s", jobID, res.code, res.stdout, want, res.stderr)
	}
	if !strings.Contains(out.String(), `"trace_id":"`+ciTraceID+`"`) {
		t.Errorf("no log line of the worker carries the job's trace id:\n%s", out.String())
	}

	_ = w.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("worker exited: %v\n%s", waitErr, out.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("the worker did not stop on SIGTERM:\n%s", out.String())
	}
}
