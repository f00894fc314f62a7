package jobview

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/schemas"
)

// livePrinter is a Terminal printer whose live line is drawn only when
// the test calls redraw, at the times it gives.
func livePrinter(out, errOut io.Writer, width int, begun time.Time, color bool) *Printer {
	p := New(out, errOut)
	p.Dialect, p.colorOut, p.colorErr = Terminal, color, color
	p.live = newLiveLine(func() int { return width }, begun)
	return p
}

func TestLiveLineIsRedrawnInPlaceAndLeavesACleanLine(t *testing.T) {
	var out, errOut bytes.Buffer
	t0 := time.Now()
	p := livePrinter(&out, &errOut, 60, t0, false)
	step := func(d time.Duration) { p.redraw(t0.Add(d)) }

	step(100 * time.Millisecond)
	step(200 * time.Millisecond) // same text: not drawn again
	q := ev(schemas.EventQueued, 1)
	q.Time = t0
	p.Event(q)
	step(1100 * time.Millisecond)
	p.SetWaitReason("lane ami: 3 of 3 running, 2nd in line")
	step(2100 * time.Millisecond)
	st := ev(schemas.EventStarted, 2)
	st.Time, st.TaskID = t0, "t-2"
	p.Event(st)
	step(3*time.Second + 300*time.Millisecond)
	p.Line(testJob, 2, schemas.LogLine{Seq: 1, Text: "output \x1b[2J line"})
	step(65*time.Second + 750*time.Millisecond)
	end := ev(schemas.EventFinished, 2)
	end.Outcome, end.ExitCode, end.Duration = schemas.OutcomeSucceeded, new(int), schemas.Duration(62*time.Second)
	p.Event(end)
	step(66 * time.Second) // ended: not drawn again
	p.Close()

	const erase = "\r\x1b[2K"
	// The spinner turns every 250ms: |, /, -, \.
	want := erase + "| submitted, waiting for the gatekeeper (0s)" +
		erase + "| queued for 1s" +
		erase + "| queued for 2s: lane ami: 3 of 3 running, 2nd in line" +
		erase + "deployer: started task t-2 (attempt 2)\n" +
		erase + "/ running for 3s (attempt 2, retry 1)" +
		erase + // the task's line
		erase + "\\ running for 1m5s (attempt 2, retry 1)" +
		erase + "deployer: finished: exit code 0 after 1m2s\n"
	if got := errOut.String(); got != want {
		t.Errorf("stderr:\n%q\nwant:\n%q", got, want)
	}
	if out.String() != `output \x1b[2J line`+"\n" {
		t.Errorf("stdout %q", out.String())
	}
}

func TestLiveLineFitsTheTerminalAndColoursOnlyItsOwn(t *testing.T) {
	var out, errOut bytes.Buffer
	t0 := time.Now()
	p := livePrinter(&out, &errOut, 20, t0, true)
	p.Event(ev(schemas.EventQueued, 1))
	p.SetWaitReason("lane ämi: a very long reason that does not fit")
	p.redraw(t0.Add(time.Second))
	drawn := strings.TrimPrefix(errOut.String(), "\r\x1b[2K")
	plain := stripSGR(drawn)
	if columns(plain) > 19 {
		t.Errorf("live line %q takes %d columns on a terminal of 20", plain, columns(plain))
	}
	if !strings.HasPrefix(drawn, sgrCyan) {
		t.Errorf("live line %q is not coloured", drawn)
	}
	p.Line(testJob, 1, schemas.LogLine{Seq: 1, Text: "\x1b[31mred"})
	end := ev(schemas.EventFinished, 1)
	end.Outcome, end.ExitCode = schemas.OutcomeFailed, three()
	p.Event(end)
	p.Close()
	if want := "\x1b[31mred\x1b[0m\n"; out.String() != want {
		t.Errorf("stdout %q, want the task's colour reset at the end of its line: %q", out.String(), want)
	}
	if !strings.HasSuffix(errOut.String(), "deployer: "+sgrRed+"failed"+sgrReset+": exit code 3 after 0s\n") {
		t.Errorf("stderr %q: want the final line with its verb in red", errOut.String())
	}
}

func stripSGR(s string) string {
	for {
		i := strings.Index(s, "\x1b[")
		if i < 0 {
			return s
		}
		j := strings.IndexByte(s[i:], 'm')
		s = s[:i] + s[i+j+1:]
	}
}

func TestLiveLineOfAQuietFollowerGoesWithoutAWord(t *testing.T) {
	var out, errOut bytes.Buffer
	t0 := time.Now()
	p := livePrinter(&out, &errOut, 80, t0, false)
	p.Quiet = true
	p.redraw(t0)
	end := ev(schemas.EventFinished, 1)
	end.Outcome, end.ExitCode = schemas.OutcomeSucceeded, new(int)
	p.Event(end)
	p.Close()
	if got, want := errOut.String(), "\r\x1b[2K| submitted, waiting for the gatekeeper (0s)\r\x1b[2K"; got != want {
		t.Fatalf("stderr %q, want the live line drawn and erased: %q", got, want)
	}
}

func TestLiveTickerStopsOnClose(t *testing.T) {
	var out bytes.Buffer
	w := &notifyWriter{wrote: make(chan struct{})}
	p := New(&out, w)
	p.Dialect = Terminal
	p.startLive()
	select {
	case <-w.wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("the live line was never drawn")
	}
	p.Close() // goleak (TestMain) checks the ticker is gone
	w.mu.Lock()
	defer w.mu.Unlock()
	if !strings.HasSuffix(w.buf.String(), "\r\x1b[2K") {
		t.Fatalf("stderr %q: want the live line erased at the end", w.buf.String())
	}
}

// openPTY opens a pseudo-terminal of cols columns and returns its
// terminal end; its master end is drained until the test ends.
func openPTY(t *testing.T, cols uint16) *os.File {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: cols, Row: 24}); err != nil {
		t.Fatal(err)
	}
	drained := make(chan struct{})
	go func() { defer close(drained); _, _ = io.Copy(io.Discard, ptmx) }()
	t.Cleanup(func() { _ = tty.Close(); _ = ptmx.Close(); <-drained })
	return tty
}

func TestDetectAsksTheEnvironmentOnce(t *testing.T) {
	tty := openPTY(t, 57)
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = devNull.Close() }()
	for _, tc := range []struct {
		name    string
		output  string
		env     map[string]string
		errOut  io.Writer
		noColor bool
		want    Dialect
	}{
		{"terminal", "text", nil, tty, false, Terminal},
		{"NO_COLOR", "text", map[string]string{"NO_COLOR": "1"}, tty, false, Plain},
		{"--no-color", "text", nil, tty, true, Plain},
		{"TERM=dumb", "text", map[string]string{"TERM": "dumb"}, tty, false, Plain},
		{"pipe", "text", nil, &bytes.Buffer{}, false, Plain},
		{"/dev/null", "text", nil, devNull, false, Plain},
		{"GitHub Actions", "text", map[string]string{"GITHUB_ACTIONS": "true"}, tty, false, GitHub},
		{"GitLab CI", "text", map[string]string{"GITLAB_CI": "true"}, &bytes.Buffer{}, false, GitLab},
		{"Buildkite", "text", map[string]string{"BUILDKITE": "true"}, &bytes.Buffer{}, false, Buildkite},
		{"GitHub first", "text", map[string]string{"BUILDKITE": "true", "GITHUB_ACTIONS": "true"}, &bytes.Buffer{}, false, GitHub},
		{"plain overrides", "plain", map[string]string{"GITHUB_ACTIONS": "true"}, tty, false, Plain},
		{"json overrides", "json", nil, tty, false, JSON},
		{"github off CI", "github", nil, &bytes.Buffer{}, false, GitHub},
		{"gitlab", "gitlab", nil, tty, false, GitLab},
		{"buildkite", "buildkite", nil, tty, false, Buildkite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &factory.Factory{
				IO:      factory.IOStreams{Out: &bytes.Buffer{}, ErrOut: tc.errOut},
				Getenv:  func(k string) string { return tc.env[k] },
				NoColor: tc.noColor,
			}
			if got := Detect(f, tc.output); got != tc.want {
				t.Errorf("Detect = %s, want %s", got, tc.want)
			}
		})
	}
	f := &factory.Factory{IO: factory.IOStreams{Out: tty, ErrOut: tty}, Getenv: func(string) string { return "" }}
	p := NewFor(f, "text")
	defer p.Close()
	if !p.colorOut || !p.colorErr || p.width() != 57 {
		t.Errorf("on a terminal of 57 columns: colours %t/%t, width %d", p.colorOut, p.colorErr, p.width())
	}
	f.IO.Out = &bytes.Buffer{}
	if p := NewFor(f, "text"); p.colorOut {
		t.Errorf("the task's colours pass to stdout that is no terminal")
	}
}
