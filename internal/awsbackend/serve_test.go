package awsbackend

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/internal/tasklog"
	"github.com/deployerhq/deployer/logshipper"
	"github.com/deployerhq/deployer/schemas"
)

// countingLogs is a task log holding one line per task, counting reads.
type countingLogs struct{ reads map[string]int }

func (c *countingLogs) Read(_ context.Context, taskID string, after int64, _ int) ([]schemas.LogLine, error) {
	c.reads[taskID]++
	if after >= 1 {
		return nil, nil
	}
	return []schemas.LogLine{{Seq: 1, Time: time.Now(), Text: "x"}}, nil
}

// nowhere is a stream port that accepts every publish.
type nowhere struct{ stream.Streams }

func (nowhere) Publish(context.Context, string, ...schemas.JobEvent) error { return nil }

var _ tasklog.Source = (*countingLogs)(nil)

// The in-process shipper keeps within readsPerTick GetLogEvents a tick,
// whatever the number of tracked tasks, and reaches every task in turn.
func TestShipperReadsWithinItsBudget(t *testing.T) {
	logs := &countingLogs{reads: map[string]int{}}
	reg := &tracked{tasks: map[string]*shipState{}}
	const n = 3*readsPerTick + 1
	for i := range n {
		reg.note(runner.Task{ID: fmt.Sprintf("task-%02d", i), JobID: "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E", Attempt: 1, Status: runner.StatusRunning})
	}
	s := &shipper{logs: logs, reg: reg, ship: &logshipper.Shipper{Streams: nowhere{}}, log: slog.New(slog.DiscardHandler)}
	total := 0
	for tick := 1; tick <= 4; tick++ {
		s.tick(context.Background())
		sum := 0
		for _, k := range logs.reads {
			sum += k
		}
		if sum-total > readsPerTick {
			t.Fatalf("tick %d read %d times, budget %d", tick, sum-total, readsPerTick)
		}
		total = sum
	}
	if len(logs.reads) != n {
		t.Fatalf("%d of %d tasks read after 4 ticks", len(logs.reads), n)
	}
}
