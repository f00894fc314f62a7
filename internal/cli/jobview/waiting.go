package jobview

import (
	"context"
	"sync"
	"time"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/schemas"
)

// waitingHint says, once, why a followed job waits when it stays queued
// for d after its queued event: its lane is full (and where it is in
// line) or a worker has yet to take it (see client.Client.WaitReason). Pass
// every event of the job to onEvent; stop cancels the hint and waits for
// one being written. It says nothing in JSON or quiet mode, nor on a
// terminal, whose live status line says it all along (watchLane).
func waitingHint(ctx context.Context, p *Printer, c *client.Client, jobID string, d time.Duration) (onEvent func(schemas.JobEvent), stop func()) {
	if p.JSON() || p.Quiet || p.Live() {
		return func(schemas.JobEvent) {}, func() {}
	}
	h := &waiting{ctx: ctx, p: p, c: c, jobID: jobID, d: d}
	return h.event, h.stop
}

type waiting struct {
	ctx   context.Context
	p     *Printer
	c     *client.Client
	jobID string
	d     time.Duration

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
	s, err := h.c.Status(ctx, h.jobID)
	var reason string
	if err == nil {
		reason, err = h.c.WaitReason(ctx, s)
	}
	if err != nil || reason == "" {
		return // the job moved on, or nothing can say why it waits
	}
	h.p.Status("still queued after %s: %s", h.d, reason)
}

func (h *waiting) stop() {
	h.mu.Lock()
	h.disarm()
	h.mu.Unlock()
	h.writing.Wait()
}

// laneEvery is how often a live status line asks why its queued job
// waits: often on the embedded backend, whose journal is a local file;
// seldom on AWS, where the answer reads many jobs' journals from
// CloudWatch Logs, whose reads are limited per account.
func laneEvery(c *client.Client) time.Duration {
	if c.Backend() == client.BackendEmbedded {
		return 2 * time.Second
	}
	return 30 * time.Second
}

// watchLane tells p's live status line why its queued job waits, every
// d while the job is queued (see client.Client.WaitReason). The returned
// stop ends it and waits for a look under way.
func watchLane(ctx context.Context, p *Printer, c *client.Client, jobID string, d time.Duration) (stop func()) {
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
			}
			if !p.Queued() {
				continue
			}
			s, err := c.Status(wctx, jobID)
			if err != nil {
				continue
			}
			if reason, err := c.WaitReason(wctx, s); err == nil && reason != "" {
				p.SetWaitReason(reason)
			}
		}
	}()
	return func() { cancel(); <-done }
}
