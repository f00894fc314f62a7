package dlq

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/cli/factory"
)

const id = "01J9Z8Y7X6W5V4T3S2R1Q0P9NM"

func testFactory() *factory.Factory {
	var out, errOut bytes.Buffer
	return &factory.Factory{IO: factory.IOStreams{Out: &out, ErrOut: &errOut}}
}

func TestReplayFlags(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want ReplayOptions
	}{
		{[]string{id}, 0, ReplayOptions{JobIDs: []string{id}}},
		{[]string{"--all", "--filter", "container=c,script=s", "--wait"}, 0, ReplayOptions{All: true, Container: "c", Script: "s", Wait: true}},
		{[]string{}, 64, ReplayOptions{}},
		{[]string{"--all", id}, 64, ReplayOptions{}},
		{[]string{id, "--filter", "script=s"}, 64, ReplayOptions{}},
		{[]string{"--all", "--filter", "colour=red"}, 64, ReplayOptions{}},
		{[]string{"--all", "--filter", "script"}, 64, ReplayOptions{}},
		{[]string{"nope"}, 64, ReplayOptions{}},
		{[]string{"--container", "c", "--dry-run"}, 0, ReplayOptions{Container: "c", DryRun: true}},
		{[]string{id, "--script", "s", "--yes"}, 0, ReplayOptions{JobIDs: []string{id}, Script: "s", Yes: true}},
		{[]string{"--batch", "batch-01J9Z8Y7X6W5V4T3S2R1Q0P9NM", "--since", "24h"}, 0, ReplayOptions{Batch: "batch-01J9Z8Y7X6W5V4T3S2R1Q0P9NM"}},
		{[]string{"--since", "2026-01-02T03:04:05Z"}, 0, ReplayOptions{}},
		{[]string{"--batch", "nope"}, 64, ReplayOptions{}},
		{[]string{"--since", "yesterday"}, 64, ReplayOptions{}},
		{[]string{"--all", "--dry-run", "--wait"}, 64, ReplayOptions{}},
	}
	for _, c := range cases {
		var got *ReplayOptions
		cmd := NewCmdReplay(testFactory(), func(_ context.Context, o *ReplayOptions) error { got = o; return nil })
		cmd.SetArgs(c.args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		err := cmd.Execute()
		if code := factory.Code(err); code != c.code {
			t.Errorf("%v: code %d (%v), want %d", c.args, code, err, c.code)
			continue
		}
		if c.code != 0 {
			continue
		}
		if got.All != c.want.All || got.Container != c.want.Container || got.Script != c.want.Script ||
			got.Wait != c.want.Wait || len(got.JobIDs) != len(c.want.JobIDs) || got.Batch != c.want.Batch ||
			got.DryRun != c.want.DryRun || got.Yes != c.want.Yes {
			t.Errorf("%v: options %+v, want %+v", c.args, got, c.want)
		}
	}
}

func TestSince(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var got *ReplayOptions
	cmd := NewCmdReplay(testFactory(), func(_ context.Context, o *ReplayOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--all", "--since", "90m"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(got.Since); d < 89*time.Minute || d > 91*time.Minute {
		t.Errorf("--since 90m = %s, %s ago", got.Since, d)
	}
	if s, err := parseSince("2026-03-01T10:00:00Z", now); err != nil || !s.Equal(now.Add(-2*time.Hour)) {
		t.Errorf("parseSince(time) = %s, %v", s, err)
	}
}
