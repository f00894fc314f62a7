package embedded

import (
	"context"
	"testing"

	"github.com/deployerhq/deployer/producer"
)

// BenchmarkSubmit1000 submits 1,000 jobs on a state directory (each
// creates its stream and enqueues its request: what "deployer run
// --no-wait" and "deployer batch run" cost before anything runs), one at
// a time and as one batch. Target: at least 500 jobs a second.
func BenchmarkSubmit1000(b *testing.B) {
	const n = 1000
	backend, err := Open(context.Background(), b.TempDir(), Options{Sender: "user:bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = backend.Close() }()
	c := backend.Client()
	ctx := context.Background()
	b.Run("jobs", func(b *testing.B) {
		for b.Loop() {
			for range n {
				if _, err := c.Submit(ctx, producer.Request{Container: "demo", Script: "plan", Args: []string{"--path", "modules/vpc"}}); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "jobs/s")
	})
	b.Run("batch", func(b *testing.B) {
		req := producer.BatchRequest{Name: "bench", MaxInFlight: 4}
		for range n {
			req.Jobs = append(req.Jobs, producer.BatchJobRequest{Container: "demo", Script: "plan", Args: []string{"--path", "modules/vpc"}})
		}
		for b.Loop() {
			if _, _, err := c.SubmitBatch(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "jobs/s")
	})
}
