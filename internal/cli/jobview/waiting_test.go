package jobview

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/embedded"
	"github.com/deployerhq/deployer/schemas"
)

func TestWaitingHintSaysWhyOnce(t *testing.T) {
	dir := t.TempDir()
	b, err := embedded.Open(t.Context(), dir, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	c, err := client.OpenEmbedded(t.Context(), client.EmbeddedOptions{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	job := ulid.MustNew(ulid.Now(), rand.Reader).String()
	queued := schemas.JobEvent{Schema: schemas.JobEventV1, JobID: job, ID: "q", Time: time.Now(), Type: schemas.EventQueued, Attempt: 1}
	accepted := queued
	accepted.ID, accepted.Type, accepted.Lane, accepted.LaneLimit = "a", schemas.EventAccepted, "ami", 1
	if err := b.Journal.Append(t.Context(), job, accepted, queued); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Lanes.Acquire(t.Context(), "ami", 1, "other", time.Hour); err != nil || !ok {
		t.Fatal(ok, err)
	}

	w := &notifyWriter{wrote: make(chan struct{})}
	onEvent, stop := waitingHint(t.Context(), New(&bytes.Buffer{}, w), c, job, time.Millisecond)
	onEvent(accepted)
	onEvent(queued)
	select {
	case <-w.wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("no hint")
	}
	onEvent(queued) // fires once only
	stop()
	w.mu.Lock()
	got := w.buf.String()
	w.mu.Unlock()
	if want := "deployer: still queued after 1ms: lane ami: 1 of 1 running, 1st in line\n"; got != want {
		t.Fatalf("hint %q, want %q", got, want)
	}

	// A job that moves on before the hint is due gets none.
	w = &notifyWriter{wrote: make(chan struct{})}
	onEvent, stop = waitingHint(t.Context(), New(&bytes.Buffer{}, w), c, job, time.Hour)
	onEvent(queued)
	started := queued
	started.Type = schemas.EventStarted
	onEvent(started)
	stop()
	if w.buf.Len() != 0 {
		t.Fatalf("hint for a started job: %q", w.buf.String())
	}
}
