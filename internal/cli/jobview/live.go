package jobview

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/deployerhq/deployer/schemas"
)

// The live status line: one line at the bottom of a terminal, on stderr,
// that says where the job is (waiting for the gatekeeper; queued, and
// why: its place in its lane's line; starting; running, for how long,
// which attempt), redrawn in place. The task's lines print above it: the
// line is erased ("\r\x1b[2K"), the output written, and the line drawn
// again on the next tick. When the job ends, the line is replaced by the
// final status line, and Close leaves the cursor at the start of an empty
// line.

// redrawEvery is the tick of the live line: it is redrawn at most this
// often (10 times a second), and only when what it says changed or
// output erased it.
const redrawEvery = 100 * time.Millisecond

// spinEvery is how often the spinner turns.
const spinEvery = 250 * time.Millisecond

// spinner is ASCII, one column wide on every terminal.
const spinner = `|/-\`

// eraseLine moves to the start of the line and clears it.
const eraseLine = "\r\x1b[2K"

// liveState is where the followed job is, as the live line says.
type liveState int

const (
	liveWaiting liveState = iota // submitted; no word from the gatekeeper yet
	liveQueued
	liveStarting
	liveRunning
)

type liveLine struct {
	width func() int
	begun time.Time
	state liveState
	// since is when the state began (for running: when the task started).
	since   time.Time
	attempt int
	// reason says why a queued job waits (producer.Client.WaitReason).
	reason string
	// drawn: the line is on the screen, text being what it says.
	drawn bool
	text  string
	// done: the job ended or the printer closed; no more drawing.
	done bool

	stop     chan struct{}
	stopOnce sync.Once
	ticking  sync.WaitGroup
}

// startLive starts the live status line of a Terminal printer, and its
// ticker, unless it has one or was closed; Close stops it.
func (p *Printer) startLive() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Dialect != Terminal || p.live != nil || p.closed {
		return
	}
	l := newLiveLine(p.width, time.Now())
	p.live = l
	l.ticking.Add(1)
	go func() {
		defer l.ticking.Done()
		t := time.NewTicker(redrawEvery)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case now := <-t.C:
				p.redraw(now)
			}
		}
	}()
}

// newLiveLine returns a live line begun at now, width giving the
// terminal's width (80 when nil).
func newLiveLine(width func() int, now time.Time) *liveLine {
	if width == nil {
		width = func() int { return 80 }
	}
	return &liveLine{width: width, begun: now, since: now, stop: make(chan struct{})}
}

// stopTicker stops the ticker and waits for a redraw under way; p.mu
// must not be held.
func (l *liveLine) stopTicker() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.ticking.Wait()
}

// redraw draws the live line when what it says changed or it is not on
// the screen, after the task's buffered output.
func (p *Printer) redraw(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.live
	if l == nil || l.done {
		return
	}
	text := l.render(now, l.width(), p.colorErr)
	if l.drawn && text == l.text {
		return
	}
	_ = p.out.Flush()
	_, _ = io.WriteString(p.errOut, eraseLine+text)
	l.drawn, l.text = true, text
}

// clearLive erases the live line from the screen if it is drawn; p.mu is
// held.
func (p *Printer) clearLive() {
	if p.live == nil || !p.live.drawn {
		return
	}
	_, _ = io.WriteString(p.errOut, eraseLine)
	p.live.drawn = false
}

// SetWaitReason says why the queued job waits, for the live line (its
// lane is full and its place in line, or no worker took it yet).
func (p *Printer) SetWaitReason(reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.live != nil && p.live.state == liveQueued {
		p.live.reason = Printable(reason)
	}
}

// Queued reports whether the live line shows the job queued.
func (p *Printer) Queued() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.live != nil && p.live.state == liveQueued && !p.live.done
}

// event moves the live line on with a job event and reports whether the
// line shows it instead of a status line (queued, starting).
func (l *liveLine) event(ev schemas.JobEvent, now time.Time) (shown bool) {
	at := ev.Time
	if at.IsZero() || at.After(now) {
		at = now // another machine's clock ahead of this one's
	}
	switch ev.Type {
	case schemas.EventAccepted:
		if l.state < liveQueued {
			l.state, l.since = liveQueued, at
		}
	case schemas.EventQueued:
		if l.state != liveQueued {
			l.since = at
		}
		l.state = liveQueued
		l.reason = Printable(ev.Reason)
		return true
	case schemas.EventStarting:
		l.state, l.since, l.attempt, l.reason = liveStarting, at, max(ev.Attempt, 1), ""
		return true
	case schemas.EventStarted:
		l.state, l.since, l.attempt, l.reason = liveRunning, at, max(ev.Attempt, 1), ""
	}
	return false
}

// render is the live line for now, at most width-1 columns so that it
// never wraps (characters beyond ASCII counted two columns wide).
func (l *liveLine) render(now time.Time, width int, color bool) string {
	spin := string(spinner[int(now.Sub(l.begun)/spinEvery)%len(spinner)])
	elapsed := now.Sub(l.since).Truncate(time.Second)
	var head, tail string
	switch l.state {
	case liveWaiting:
		head, tail = "submitted", fmt.Sprintf(", waiting for the gatekeeper (%s)", elapsed)
	case liveQueued:
		head, tail = "queued", fmt.Sprintf(" for %s", elapsed)
		if l.reason != "" {
			tail += ": " + l.reason
		}
	case liveStarting:
		head, tail = "starting", fmt.Sprintf(" attempt %d", l.attempt)
	case liveRunning:
		head, tail = "running", fmt.Sprintf(" for %s (attempt %d", elapsed, l.attempt)
		if l.attempt > 1 {
			tail += fmt.Sprintf(", retry %d", l.attempt-1)
		}
		tail += ")"
	}
	room := max(width-1, 2) - 2 // the spinner and a space
	head = fitColumns(head, room)
	tail = fitColumns(tail, room-columns(head))
	if !color {
		return spin + " " + head + tail
	}
	return sgrCyan + spin + sgrReset + " " + sgrBold + head + sgrReset + tail
}

// columns is how many columns s takes at most: one per ASCII character,
// two for any other.
func columns(s string) int {
	n := 0
	for _, r := range s {
		if r < utf8.RuneSelf {
			n++
		} else {
			n += 2
		}
	}
	return n
}

// fitColumns cuts s to at most n columns (see columns).
func fitColumns(s string, n int) string {
	if columns(s) <= n {
		return s
	}
	var b strings.Builder
	used := 0
	for _, r := range s {
		w := 1
		if r >= utf8.RuneSelf {
			w = 2
		}
		if used+w > n {
			break
		}
		b.WriteRune(r)
		used += w
	}
	return b.String()
}
