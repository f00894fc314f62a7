package dlq

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/schemas"
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
			got.Wait != c.want.Wait || len(got.JobIDs) != len(c.want.JobIDs) {
			t.Errorf("%v: options %+v, want %+v", c.args, got, c.want)
		}
	}
}

func TestGroupsDedupeByJobNewestFirst(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(msgID, jobID string, at time.Time) *letter {
		return &letter{queue: queueRun, msg: queue.Message{ID: msgID}, dl: schemas.DeadLetter{JobID: jobID, Failure: schemas.Failure{Time: at}}}
	}
	old, newer, other, poison := mk("1", id, t0), mk("2", id, t0.Add(time.Minute)), mk("3", id+"-r1", t0.Add(-time.Hour)), mk("4", "", t0)
	gs := groups([]*letter{old, other, newer, poison})
	if len(gs) != 3 {
		t.Fatalf("%d groups, want 3", len(gs))
	}
	if gs[0].key != id+"-r1" || gs[2].key != id || gs[1].key != "message:4" {
		t.Fatalf("groups in order %s, %s, %s", gs[0].key, gs[1].key, gs[2].key)
	}
	if g := find(gs, id); g == nil || len(g.letters) != 2 || g.newest() != newer {
		t.Fatalf("group of %s = %+v", id, g)
	}
}

func TestDecodeRedrivenAndUnreadable(t *testing.T) {
	req := schemas.JobRequest{JobID: id, Container: "c", Script: "s", Stream: "x", Attempt: 1}
	body, err := req.Encode()
	if err != nil {
		t.Fatal(err)
	}
	dl := decode(queue.Message{Body: body})
	if dl.JobID != id || dl.Request == nil || dl.Failure.ReasonCode != "max_receives_exceeded" {
		t.Errorf("redriven request decoded as %+v", dl)
	}
	dl = decode(queue.Message{Body: []byte("junk"), Attributes: map[string]string{"job_id": id}})
	if dl.JobID != id || dl.Request != nil || dl.Raw != "junk" || dl.Failure.ReasonCode != "undecodable_dead_letter" {
		t.Errorf("junk decoded as %+v", dl)
	}
}
