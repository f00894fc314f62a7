package awsbackend_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/worker"
)

// The requests of one BenchmarkRequestToRunTask round, sent by
// fastPathCallers callers at once, each submitting its next request once
// the worker has asked ECS for the task of its last one.
const (
	fastPathRequests = 200
	fastPathCallers  = 4
)

// BenchmarkRequestToRunTask measures the fast path of issue 20: the time
// from a request's SendMessage having returned (the caller's Submit) to
// the pipeline's RunTask call for that job, with the pipeline served as
// "deployer up --backend aws" serves it (gatekeeper, worker and
// logshipper in one process, the worker's default intervals).
//
// With DEPLOYER_TEST_AWS_ENDPOINT set, SQS, CloudWatch Logs and DynamoDB
// are that emulator (moto in CI: the test deployment), chosen as
// TestPipelineOnMoto chooses them; otherwise the in-process fakes. ECS is
// the in-process fake either way (moto's ECS runs no tasks). The
// benchmark logs which it measured. Targets: p50 ≤ 1 s, p99 ≤ 3 s.
//
// A few callers at a time (fastPathCallers) rather than one: CI runs
// several jobs at once, the gatekeeper then receives requests in batches
// and the worker's one-order receives queue behind each other, which one
// caller never shows. Each caller waits for its job's RunTask before
// sending the next request, so that every figure is one request's path,
// not the backlog of a burst. The tasks exit at once; the lane's limit is
// raised above the round's size and the worker's capacity to it (as
// "deployer up --capacity" does), so that no request waits for a slot:
// lane and capacity waits are throttles a deployment chooses, not the
// path measured here.
//
// The other half of the target, no more calls per waiting caller, is
// BenchmarkCallerWait's calls/min (it waits a minute, too long to repeat
// here).
func BenchmarkRequestToRunTask(b *testing.B) {
	clock := &runTaskClock{jobs: map[string]*runTaskAt{}}
	s := served{
		worker: worker.Options{Capacity: fastPathRequests},
		config: strings.Replace(config, "concurrency: 4", fmt.Sprintf("concurrency: %d", fastPathRequests), 1),
		wrap:   clock.wrap,
	}
	if s.config == config {
		b.Fatal("the test configuration's lane limit moved: raise it for this benchmark")
	}
	var cb *awsbackend.Backend
	where := "the in-process SQS, CloudWatch Logs and DynamoDB fakes"
	if ep := os.Getenv(awstest.EnvEndpoint); ep != "" {
		cb = motoWith(b, s)
		where = "SQS, CloudWatch Logs and DynamoDB at " + ep
	} else {
		_, f := openWith(b, s)
		cb, _ = caller(b, f)
	}
	b.Logf("measured on %s; ECS on the in-process fake", where)
	c := cb.Client()
	// One request first, uncounted: the worker may still be opening its
	// lane queues when the pipeline starts, and the target is about a
	// deployment that serves.
	if _, err := fastPathWait(b.Context(), c, clock); err != nil {
		b.Fatalf("warming up: %v", err)
	}
	var lat []time.Duration
	for b.Loop() {
		lat = append(lat, fastPathRound(b, c, clock)...)
	}
	slices.Sort(lat)
	b.ReportMetric(ms(percentile(lat, 50)), "ms-p50-to-RunTask")
	b.ReportMetric(ms(percentile(lat, 99)), "ms-p99-to-RunTask")
	b.Logf("%d requests, %d callers: p50 %v, p90 %v, p99 %v, max %v", len(lat), fastPathCallers,
		percentile(lat, 50), percentile(lat, 90), percentile(lat, 99), lat[len(lat)-1])
}

// fastPathRound sends fastPathRequests requests and returns the time from
// each Submit's return to its job's RunTask.
func fastPathRound(b *testing.B, c *producer.Client, clock *runTaskClock) []time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		mu  sync.Mutex
		out []time.Duration
		wg  sync.WaitGroup
	)
	for range fastPathCallers {
		wg.Go(func() {
			for range fastPathRequests / fastPathCallers {
				d, err := fastPathWait(ctx, c, clock)
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				out = append(out, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return out
}

// fastPathWait submits a job whose task exits at once and returns the
// time from Submit's return to the job's RunTask.
func fastPathWait(ctx context.Context, c *producer.Client, clock *runTaskClock) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	job, err := c.Submit(ctx, producer.Request{Container: "infra", Script: "lines", Args: []string{"0"}})
	sent := time.Now()
	if err != nil {
		return 0, err
	}
	at, err := clock.wait(ctx, job.ID)
	if err != nil {
		return 0, fmt.Errorf("job %s: no RunTask: %w", job.ID, err)
	}
	return at.Sub(sent), nil
}

// runTaskClock notes when the pipeline sends the first RunTask request of
// each job (the job id is the request's startedBy, see ecsrunner).
type runTaskClock struct {
	mu   sync.Mutex
	jobs map[string]*runTaskAt
}

type runTaskAt struct {
	at   time.Time
	sent chan struct{} // closed once at is set
}

func (c *runTaskClock) job(id string) *runTaskAt {
	c.mu.Lock()
	defer c.mu.Unlock()
	j := c.jobs[id]
	if j == nil {
		j = &runTaskAt{sent: make(chan struct{})}
		c.jobs[id] = j
	}
	return j
}

// wrap is the pipeline's transport: next, watched.
func (c *runTaskClock) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		if awsx.Operation(req) == "ecs:RunTask" {
			now := time.Now()
			if id := startedBy(req); id != "" {
				j := c.job(id)
				c.mu.Lock()
				if j.at.IsZero() {
					j.at = now
					close(j.sent)
				}
				c.mu.Unlock()
			}
		}
		return next.RoundTrip(req)
	})
}

// wait returns when the job's first RunTask was sent.
func (c *runTaskClock) wait(ctx context.Context, id string) (time.Time, error) {
	j := c.job(id)
	select {
	case <-j.sent:
		c.mu.Lock()
		defer c.mu.Unlock()
		return j.at, nil
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
}

// startedBy reads a RunTask request's startedBy, leaving its body whole.
func startedBy(req *http.Request) string {
	var body []byte
	switch {
	case req.GetBody != nil:
		r, err := req.GetBody()
		if err != nil {
			return ""
		}
		body, _ = io.ReadAll(r)
		_ = r.Close()
	case req.Body != nil:
		body, _ = io.ReadAll(req.Body)
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	var in struct {
		StartedBy string `json:"startedBy"`
	}
	_ = json.Unmarshal(body, &in)
	return in.StartedBy
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// percentile returns the p-th percentile (nearest rank) of sorted ds.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
