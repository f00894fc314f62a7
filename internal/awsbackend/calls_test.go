package awsbackend_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// caller opens a second backend on the same fakes, as a CI job's
// "deployer run" would, with its own call counter.
func caller(tb testing.TB, f *fakes) (*awsbackend.Backend, *awsx.CountingTransport) {
	tb.Helper()
	count := &awsx.CountingTransport{}
	b, err := awsbackend.NewWithConfig(awstest.Config(tb, f.url, &http.Client{Transport: count, Timeout: time.Minute}), awsbackend.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := b.Provision(context.Background()); err != nil { // opens the queues; everything exists already
		tb.Fatal(err)
	}
	count.Reset()
	return b, count
}

func breakdown(c *awsx.CountingTransport) string {
	var ops []string
	for op, n := range c.Counts() {
		ops = append(ops, fmt.Sprintf("%s=%d", op, n))
	}
	sort.Strings(ops)
	return strings.Join(ops, " ")
}

// BenchmarkCallsPerJob counts the AWS calls of one job that prints 1,000
// lines, enqueue to exit: those of the caller ("deployer run": create the
// job's queue, send the request, long-poll the stream, read the task log
// after the end, delete the queue) and those of the pipeline serving it
// (gatekeeper, worker, in-process logshipper). A task that runs for a
// minute adds, per minute: the caller's 3 long polls, and the worker's
// DescribeTasks (one per poll interval per 100 tasks), 3 visibility
// heartbeats and 3 lease renewals.
func BenchmarkCallsPerJob(b *testing.B) {
	pipeline, f := open(b)
	cb, cc := caller(b, f)
	_ = pipeline
	for b.Loop() {
		f.count.Reset()
		cc.Reset()
		lines, term := runJob(b, cb, "lines", "1000")
		if producer.ExitCode(term) != 0 || len(lines) != 1000 {
			b.Fatalf("exit %d, %d lines", producer.ExitCode(term), len(lines))
		}
	}
	b.ReportMetric(float64(cc.Total()), "caller-calls/job")
	// The pipeline's counter also saw the caller's Provision and the
	// pipeline's idle polling while the job ran.
	b.ReportMetric(float64(f.count.Total()), "pipeline-calls/job")
	b.Logf("caller: %s", breakdown(cc))
	b.Logf("pipeline: %s", breakdown(f.count))
}

// BenchmarkCallerWait counts the calls a caller makes while it waits 59
// seconds on a job that prints nothing (target: at most 4 a minute).
func BenchmarkCallerWait(b *testing.B) {
	_, f := open(b)
	cb, cc := caller(b, f)
	c := cb.Client()
	ctx := context.Background()
	job, err := c.Submit(ctx, producer.Request{Container: "infra", Script: "lines", Args: []string{"0"}})
	if err != nil {
		b.Fatal(err)
	}
	// Follow another job's stream that nothing publishes to: an idle wait.
	idle := producer.Job{ID: producer.NewJobID()}
	idle.Stream = cb.StreamAddress(idle.ID)
	if _, err := cb.Streams.Create(ctx, idle.ID, time.Hour); err != nil {
		b.Fatal(err)
	}
	_ = job
	const wait = 59 * time.Second
	for b.Loop() {
		cc.Reset()
		wctx, cancel := context.WithTimeout(ctx, wait)
		_, err := c.Follow(wctx, idle, producer.FollowOptions{OnLine: func(int, schemas.LogLine) {}})
		cancel()
		if err == nil {
			b.Fatal("an idle follow ended")
		}
	}
	b.ReportMetric(float64(cc.Total())*float64(time.Minute)/float64(wait), "calls/min")
	b.Logf("caller while waiting %s: %s", wait, breakdown(cc))
}

// BenchmarkFollowBatchCalls counts the calls a caller makes per minute
// while it follows a batch of 100 jobs (10 running at a time, the rest
// waiting), at the interval "deployer batch" follows one on AWS: one read
// of the batch's journal per interval, however many jobs; logs on demand.
// Target: no more than following 5 single jobs (5 × BenchmarkCallerWait's
// calls/min).
func BenchmarkFollowBatchCalls(b *testing.B) {
	_, f := open(b)
	cb, cc := caller(b, f)
	c := cb.Client()
	ctx := context.Background()
	req := producer.BatchRequest{Name: "bench", MaxInFlight: 10}
	for range 100 {
		req.Jobs = append(req.Jobs, producer.BatchJobRequest{Container: "infra", Script: "sleep"})
	}
	id, _, err := c.SubmitBatch(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	// Wait until the gatekeeper has decided on every job, so that what is
	// counted is the steady state of a follower.
	dctx, decided := context.WithTimeout(ctx, time.Minute)
	_, err = c.FollowBatch(dctx, id, 100*time.Millisecond, func(bt producer.Batch, _ []schemas.JobEvent) {
		if bt.Count()[producer.StateUnknown] == 0 && len(bt.Jobs) == 100 {
			decided()
		}
	}, nil)
	decided()
	if !errors.Is(err, context.Canceled) {
		b.Fatalf("waiting for the gatekeeper to decide on every job: %v", err)
	}
	const window = time.Minute
	for b.Loop() {
		cc.Reset()
		wctx, cancel := context.WithTimeout(ctx, window)
		_, err := c.FollowBatch(wctx, id, producer.BatchPollAWS, func(producer.Batch, []schemas.JobEvent) {}, nil)
		cancel()
		if err == nil {
			b.Fatal("a batch of sleeping jobs ended")
		}
	}
	b.ReportMetric(float64(cc.Total())*float64(time.Minute)/float64(window), "calls/min")
	b.Logf("caller following a 100-job batch for %s: %s", window, breakdown(cc))
}
