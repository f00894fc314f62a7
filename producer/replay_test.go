package producer

import (
	"context"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/schemas"
)

const ulidA = "01J9Z8Y7X6W5V4T3S2R1Q0P9NM"

func TestReplayID(t *testing.T) {
	cases := []struct {
		name     string
		original string
		n        int
		want     string
	}{
		{"fresh id", ulidA, 1, ulidA + "-r1"},
		{"replay of a replay", ulidA + "-r1", 2, ulidA + "-r2"},
		{"derived from the base ulid", ulidA + "-r9", 10, ulidA + "-r10"},
		{"other suffix", ulidA + "-batch7", 1, ulidA + "-r1"},
		{"not a job id", "not-a-job-id", 1, ""},
		{"lowercase ulid", "01j9z8y7x6w5v4t3s2r1q0p9nm", 1, ""},
		{"empty", "", 1, ""},
		{"zero n", ulidA, 0, ""},
		{"negative n", ulidA, -1, ""},
		{"n too long for the id", ulidA, 1e15, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ReplayID(c.original, c.n)
			if got != c.want {
				t.Fatalf("ReplayID(%q, %d) = %q, want %q", c.original, c.n, got, c.want)
			}
			if got != "" && !schemas.ValidJobID(got) {
				t.Fatalf("ReplayID(%q, %d) = %q is not a valid job id", c.original, c.n, got)
			}
		})
	}
}

func TestNextReplayID(t *testing.T) {
	cases := map[string]string{
		ulidA:               ulidA + "-r1",
		ulidA + "-r1":       ulidA + "-r2",
		ulidA + "-r2":       ulidA + "-r3",
		ulidA + "-r01":      ulidA + "-r1", // not a replay suffix
		ulidA + "-rx":       ulidA + "-r1",
		ulidA + "-abc":      ulidA + "-r1",
		"nope":              "",
		ulidA + "-r" + "1x": ulidA + "-r1",
	}
	for in, want := range cases {
		if got := NextReplayID(in); got != want {
			t.Errorf("NextReplayID(%q) = %q, want %q", in, got, want)
		}
	}
	// Replaying twice derives the same id: that is what makes a double
	// replay start one task.
	first, second := NextReplayID(ulidA), NextReplayID(ulidA)
	if first != second {
		t.Errorf("NextReplayID is not deterministic: %q then %q", first, second)
	}
}

// recordingQueue records what is sent to it.
type recordingQueue struct {
	queue.Queue
	sent [][]byte
}

func (q *recordingQueue) Send(_ context.Context, msgs ...queue.Outgoing) ([]string, error) {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		q.sent = append(q.sent, m.Body)
		ids[i] = "m"
	}
	return ids, nil
}

// createOnly is a stream port that only creates streams.
type createOnly struct {
	stream.Streams
	created []string
}

func (s *createOnly) Create(_ context.Context, jobID string, _ time.Duration) (string, error) {
	s.created = append(s.created, jobID)
	return "test://" + jobID, nil
}

func TestResubmitKeepsTheRequestUnderADerivedID(t *testing.T) {
	q := &recordingQueue{}
	st := &createOnly{}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := &Client{Requests: q, Streams: st, Now: func() time.Time { return now }}
	orig := schemas.JobRequest{
		JobID: ulidA + "-r1", Container: "c", Script: "s",
		Args:   schemas.Args{Legacy: "--a 'b c'", IsLegacy: true},
		Stream: "test://" + ulidA + "-r1", Attempt: 3, TraceParent: "tp",
		Caller: schemas.CallerMetadata{Repo: "r"}, SubmittedAt: now.Add(-time.Hour),
	}
	job, err := c.Resubmit(context.Background(), orig, 0)
	if err != nil {
		t.Fatal(err)
	}
	if job.ID != ulidA+"-r2" || job.Stream != "test://"+ulidA+"-r2" {
		t.Fatalf("job = %+v", job)
	}
	if len(st.created) != 1 || st.created[0] != job.ID {
		t.Fatalf("streams created: %v", st.created)
	}
	if len(q.sent) != 1 {
		t.Fatalf("%d messages sent", len(q.sent))
	}
	got, err := schemas.DecodeJobRequest(q.sent[0])
	if err != nil {
		t.Fatal(err)
	}
	if got.JobID != job.ID || got.ReplayOf != orig.JobID || got.Attempt != 1 || got.Stream != job.Stream ||
		!got.SubmittedAt.Equal(now) || got.Container != "c" || got.Script != "s" ||
		!got.Args.IsLegacy || got.Args.Legacy != orig.Args.Legacy || got.TraceParent != "tp" || got.Caller.Repo != "r" {
		t.Fatalf("resubmitted request = %+v", got)
	}
}
