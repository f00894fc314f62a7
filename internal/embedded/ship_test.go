package embedded

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/deployerhq/deployer/logshipper"
	"github.com/deployerhq/deployer/schemas"
)

// TestShipOnceShipsWhatIsBehind: the shipper publishes the position of a
// task's new batches, and a copy of the lines an earlier version's
// supervisor stored one per row, each from its own cursor; once both
// cursors are past everything, a look ships nothing.
func TestShipOnceShipsWhatIsBehind(t *testing.T) {
	b := open(t)
	ctx := t.Context()
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"
	address, err := b.Streams.Create(ctx, job, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := b.Streams.Subscribe(ctx, address)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	shipper, lease, attempts := &logshipper.Shipper{Streams: b.Streams}, &shipLease{b: b, holder: "test"}, map[string]int{}
	ship := func(want []string) {
		t.Helper()
		if _, err := b.shipOnce(ctx, shipper, lease, attempts); err != nil {
			t.Fatal(err)
		}
		evs, err := sub.Next(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ev := range evs {
			got = append(got, fmt.Sprintf("%s to %d: %d lines", ev.TaskID, ev.LogTo, len(ev.Lines)))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("shipped %q, want %q", got, want)
		}
	}

	ship(nil)
	if err := b.Logs.Append(ctx, "task-a", job, []schemas.LogLine{{Seq: 1, Text: "a1"}, {Seq: 2, Text: "a2"}}); err != nil {
		t.Fatal(err)
	}
	ship([]string{"task-a to 2: 0 lines"})
	if _, err := b.DB.ExecContext(ctx, `INSERT INTO task_log (task_id, job_id, seq, time_ms, text)
		VALUES ('task-b', ?, 1, 1700000000000, 'b1')`, job); err != nil {
		t.Fatal(err)
	}
	ship([]string{"task-b to 0: 1 lines"})
	ship(nil)
}
