package replay

import (
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/schemas"
)

const id = "01J9Z8Y7X6W5V4T3S2R1Q0P9NM"

func TestGroupsDedupeByJobNewestFirst(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(msgID, jobID string, at time.Time) *Letter {
		return &Letter{Queue: QueueRun, Msg: queue.Message{ID: msgID}, DL: schemas.DeadLetter{JobID: jobID, Failure: schemas.Failure{Time: at}}}
	}
	old, newer, other, poison := mk("1", id, t0), mk("2", id, t0.Add(time.Minute)), mk("3", id+"-r1", t0.Add(-time.Hour)), mk("4", "", t0)
	gs := Groups([]*Letter{old, other, newer, poison})
	if len(gs) != 3 {
		t.Fatalf("%d groups, want 3", len(gs))
	}
	if gs[0].Key != id+"-r1" || gs[2].Key != id || gs[1].Key != "message:4" {
		t.Fatalf("groups in order %s, %s, %s", gs[0].Key, gs[1].Key, gs[2].Key)
	}
	if g := Find(gs, id); g == nil || len(g.Letters) != 2 || g.Newest() != newer {
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
