package jobview

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// waitingHint says, once, why a followed job waits when it stays queued
// for d after its queued event: its lane is full (and where it is in
// line) or a worker has yet to take it (see producer.Client.WaitReason).
// Pass every event of the job to onEvent; stop cancels the hint and
// waits for one being written. Like hintIfSilent it writes to errOut
// directly, and says nothing in JSON or quiet mode.
func waitingHint(ctx context.Context, errOut io.Writer, p *Printer, client *producer.Client, jobID string, d time.Duration) (onEvent func(schemas.JobEvent), stop func()) {
	if p.JSON || p.Quiet {
		return func(schemas.JobEvent) {}, func() {}
	}
	h := &waiting{ctx: ctx, errOut: errOut, name: p.Name, client: client, jobID: jobID, d: d}
	return h.event, h.stop
}

type waiting struct {
	ctx    context.Context
	errOut io.Writer
	name   string
	client *producer.Client
	jobID  string
	d      time.Duration

	mu      sync.Mutex
	timer   *time.Timer
	done    bool // fired or stopped: never again
	writing sync.WaitGroup
}

// event arms the hint on the job's queued event and disarms it for good
// once the job moves on.
func (h *waiting) event(ev schemas.JobEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return
	}
	switch {
	case ev.Type == schemas.EventQueued:
		if h.timer != nil && h.timer.Stop() {
			h.writing.Done() // re-armed: the earlier one never runs
		}
		h.writing.Add(1)
		h.timer = time.AfterFunc(h.d, func() {
			defer h.writing.Done()
			h.fire()
		})
	case ev.Type == schemas.EventStarting || ev.Type == schemas.EventStarted || ev.Type.Terminal():
		h.disarm()
	}
}

// disarm stops a pending hint; h.mu is held.
func (h *waiting) disarm() {
	h.done = true
	if h.timer != nil && h.timer.Stop() {
		h.writing.Done() // it will never run
	}
}

func (h *waiting) fire() {
	h.mu.Lock()
	if h.done {
		h.mu.Unlock()
		return
	}
	h.done = true
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	s, err := h.client.Job(ctx, h.jobID)
	var reason string
	if err == nil {
		reason, err = h.client.WaitReason(ctx, s)
	}
	if err != nil || reason == "" {
		return // the job moved on, or nothing can say why it waits
	}
	_, _ = fmt.Fprintf(h.errOut, "%s: still queued after %s: %s\n", h.name, h.d, Printable(reason))
}

func (h *waiting) stop() {
	h.mu.Lock()
	h.disarm()
	h.mu.Unlock()
	h.writing.Wait()
}
