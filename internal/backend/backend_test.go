package backend_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/schemas"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestJanitorRunsFirstThenOnTheTicker: every chore runs first after
// start, not before, and again each interval, its removals and failures
// are logged, and the janitor returns when its context ends.
func TestJanitorRunsFirstThenOnTheTicker(t *testing.T) {
	// Read only once the janitor has returned.
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(t.Context())
	runs := make(chan int, 16)
	n := 0
	removes := backend.Chore{What: "old things", Run: func(context.Context) (int, error) {
		n++
		runs <- n
		return 2, nil
	}}
	fails := backend.Chore{What: "broken things", Run: func(context.Context) (int, error) { return 0, errors.New("no access") }}
	done := make(chan struct{})
	const first = 50 * time.Millisecond
	start := time.Now()
	go func() { defer close(done); backend.Janitor(ctx, log, first, 10*time.Millisecond, removes, fails) }()
	for want := 1; want <= 3; want++ {
		select {
		case got := <-runs:
			if got != want {
				t.Fatalf("run %d, want %d", got, want)
			}
			// A timer never fires early: a run before first is the bug.
			if since := time.Since(start); got == 1 && since < first {
				t.Fatalf("the first run came %v after start, before %v", since, first)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the chore ran %d times", want-1)
		}
	}
	cancel()
	<-done
	for _, want := range []string{`msg="janitor: removed old things" count=2`, `msg="janitor: removing broken things" err="no access"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}

// TestJanitorEndingBeforeItsFirstRun: a janitor whose context ends
// before its first run returns without running anything.
func TestJanitorEndingBeforeItsFirstRun(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ran := false
	backend.Janitor(ctx, slog.New(slog.DiscardHandler), time.Hour, time.Hour, backend.Chore{What: "things", Run: func(context.Context) (int, error) {
		ran = true
		return 0, nil
	}})
	if ran {
		t.Error("the chore ran after the context ended")
	}
}

func TestLanesListsEveryLaneOnce(t *testing.T) {
	c := schemas.Config{
		Lanes:      map[string]schemas.Lane{"amis": {Concurrency: 3}},
		Containers: map[string]schemas.Container{"a": {Lane: "amis"}, "b": {}, "c": {Lane: "deploys"}},
	}
	got := backend.Lanes(c)
	want := map[string]bool{"amis": true, schemas.DefaultLane: true, "deploys": true}
	seen := map[string]bool{}
	for _, l := range got {
		if seen[l] {
			t.Errorf("lane %s listed twice in %v", l, got)
		}
		seen[l] = true
	}
	for l := range want {
		if !seen[l] {
			t.Errorf("lane %s missing from %v", l, got)
		}
	}
}
