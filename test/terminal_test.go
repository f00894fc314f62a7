package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The live status line in a real terminal: deployer runs in a tmux pane
// (a private server, no configuration) and the tests read the screen with
// capture-pane, waiting for what they expect to be on it.

const terminalConfig = `
lanes:
  one: {concurrency: 1}
containers:
  laned:
    local: {scripts_dir: SCRIPTS}
    lane: one
    script_config:
      hold: {allow_positional_args: true}
      live: {allow_positional_args: true}
`

var terminalScripts = map[string]string{
	// hold keeps the lane until a line comes down the FIFO $1.
	"hold": "#!/bin/sh\necho holding\nread x < \"$1\"\n",
	// live prints a line, waits for one down the FIFO $1, then prints
	// colour and escape sequences that would clear the screen, retitle
	// the terminal and move the cursor up, and exits 3.
	"live": "#!/bin/sh\necho 'first line'\nread x < \"$1\"\n" +
		"printf 'colour \\033[31mred\\033[0m done\\n'\n" +
		"printf 'evil \\033[2J\\033]0;pwned\\007 \\033[1A up\\n'\n" +
		"echo 'last line'\nexit 3\n",
}

// pane is a tmux pane running one command.
type pane struct {
	t *testing.T
	// socket is the tmux server's, private to the test (-S, in a
	// directory of its own that goes with the test).
	socket string
}

// newPane starts command (a shell command line) in a detached tmux
// session of 120x30 on a server of its own, stopped when the test ends.
func newPane(t *testing.T, command string) *pane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed: the real-terminal tests need it")
	}
	dir, err := os.MkdirTemp("", "tmux") // short: a socket's path is at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	p := &pane{t: t, socket: filepath.Join(dir, "s")}
	t.Cleanup(func() {
		_ = exec.Command("tmux", "-S", p.socket, "kill-server").Run()
		_ = os.RemoveAll(dir)
	})
	p.tmux("new-session", "-d", "-x", "120", "-y", "30", "-s", "main", command)
	return p
}

func (p *pane) tmux(args ...string) string {
	p.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", p.socket, "-f", "/dev/null"}, args...)...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// screen is the pane's rows, without the empty rows at the bottom; with
// escapes, as capture-pane -e gives them (the attributes of each cell).
func (p *pane) screen(escapes bool) []string {
	args := []string{"capture-pane", "-p", "-t", "main"}
	if escapes {
		args = append(args, "-e")
	}
	rows := strings.Split(strings.TrimRight(p.tmux(args...), "\n"), "\n")
	for len(rows) > 0 && strings.TrimSpace(rows[len(rows)-1]) == "" {
		rows = rows[:len(rows)-1]
	}
	return rows
}

// waitFor reads the screen until cond holds, failing after d with what
// the screen showed.
func (p *pane) waitFor(what string, d time.Duration, cond func(rows []string) bool) []string {
	p.t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		rows := p.screen(false)
		if cond(rows) {
			return rows
		}
		select {
		case <-deadline.C:
			p.t.Fatalf("no %s on the screen within %s; it shows:\n%s", what, d, strings.Join(rows, "\n"))
		case <-tick.C:
		}
	}
}

// liveRow matches the live status line.
var liveRow = regexp.MustCompile(`^[|/\\-] (submitted|queued|starting|running)\b`)

// liveRows returns the indexes of the rows that look like the live line.
func liveRows(rows []string) []int {
	var at []int
	for i, r := range rows {
		if liveRow.MatchString(r) {
			at = append(at, i)
		}
	}
	return at
}

// deployerInPane is the shell command line that runs deployer with args
// on e's setup in a pane, then says how it exited and keeps the pane
// open (cat waits on the terminal).
func deployerInPane(e *env, extraEnv []string, args ...string) string {
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	parts := []string{"env", "GITHUB_ACTIONS=", "GITLAB_CI=", "BUILDKITE=", "NO_COLOR=", "DEPLOYER_CONFIG=", "DEPLOYER_STATE_DIR="}
	parts = append(parts, extraEnv...)
	parts = append(parts, q(deployerBin), "--state-dir", q(e.state), "--config", q(e.config))
	for _, a := range args {
		parts = append(parts, q(a))
	}
	return strings.Join(parts, " ") + `; echo "[exit $?]"; exec cat`
}

// fifos makes FIFOs in a short directory of their own (the paths show in
// status lines, which must fit the pane).
func fifos(t *testing.T, names ...string) []string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	var paths []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// release writes a line down a FIFO a script reads (opening it waits
// for the script to open it).
func release(t *testing.T, fifo string) {
	t.Helper()
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("go\n"); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
}

// TestTerminalLiveStatusLine: on a terminal, the status line says the
// job is queued and where in its lane, then running and for how long,
// redrawn in place on the bottom row with the task's output above it;
// the task's escape sequences show as text (the screen is not cleared,
// the title not set); and at the end the line is replaced by the final
// status line, leaving the cursor, visible, at the start of a clean line.
func TestTerminalLiveStatusLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t, terminalConfig, terminalScripts)
	ff := fifos(t, "hold", "live")
	blocker := e.start("run", "--", "laned", "hold", ff[0])
	blocker.stdout.waitFor(t, regexp.MustCompile(`^holding$`), time.Minute)

	p := newPane(t, deployerInPane(e, nil, "run", "--", "laned", "live", ff[1]))
	queued := regexp.MustCompile(`^\S queued for \d+s: lane one: 1 of 1 running, 1st in line$`)
	rows := p.waitFor("live line saying where the job is in its lane", time.Minute, func(rows []string) bool {
		return len(rows) > 0 && queued.MatchString(rows[len(rows)-1])
	})
	if at := liveRows(rows); len(at) != 1 {
		t.Fatalf("%d live lines on the screen, want one:\n%s", len(at), strings.Join(rows, "\n"))
	}

	release(t, ff[0])
	running := regexp.MustCompile(`^\S running for (\d+)s \(attempt 1\)$`)
	seconds := func(rows []string) int {
		if len(rows) == 0 {
			return -1
		}
		m := running.FindStringSubmatch(rows[len(rows)-1])
		if m == nil {
			return -1
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	first := p.waitFor("live line of the running job under its first line", time.Minute, func(rows []string) bool {
		if seconds(rows) < 0 || len(rows) < 2 {
			return false
		}
		// The worker says "started" once the runner has started the
		// task, and a spare supervisor runs the script at once: under
		// load, the script's first line reaches the stream before that
		// word, and the status line then comes between them. "running"
		// on the live line means the word has come, so the rows above
		// it stay as they are.
		above := rows[len(rows)-2]
		if strings.HasPrefix(above, "deployer: started task ") && len(rows) >= 3 {
			above = rows[len(rows)-3]
		}
		return above == "first line"
	})
	later := p.waitFor("live line counting the seconds", time.Minute, func(rows []string) bool {
		return seconds(rows) > seconds(first)
	})
	if len(later) != len(first) || len(liveRows(later)) != 1 || len(liveRows(first)) != 1 {
		t.Fatalf("the live line was not redrawn in place:\nbefore:\n%s\nafter:\n%s", strings.Join(first, "\n"), strings.Join(later, "\n"))
	}
	if p.tmux("display-message", "-p", "-t", "main", "#{cursor_y}") != fmt.Sprintf("%d\n", len(later)-1) {
		t.Errorf("the cursor is not on the live line's row")
	}

	release(t, ff[1])
	final := p.waitFor("end of the command", time.Minute, func(rows []string) bool {
		return len(rows) > 0 && strings.HasPrefix(rows[len(rows)-1], "[exit")
	})
	if code := blocker.wait(t, time.Minute); code != 0 {
		t.Errorf("the blocker exited %d", code)
	}
	n := len(final)
	want := []string{
		"first line",
		"colour red done",
		`evil \x1b[2J\x1b]0;pwned\a \x1b[1A up`,
		"last line",
	}
	// The task's lines in order (deployer's status lines may come between
	// them: the dead letter is heard of as the lines are).
	inOrder, from := true, 0
	for _, w := range want {
		i := slices.Index(final[from:], w)
		if i < 0 {
			inOrder = false
			break
		}
		from += i + 1
	}
	if !inOrder || !strings.HasPrefix(final[0], "deployer: job ") || !strings.HasPrefix(final[n-2], "deployer: failed: exit code 3 after ") ||
		final[n-1] != "[exit 3]" {
		t.Errorf("final screen:\n%s\nwant deployer's lines, then:\n%s\nthen the final status line and [exit 3] on a line of its own", strings.Join(final, "\n"), strings.Join(want, "\n"))
	}
	if at := liveRows(final); len(at) > 0 {
		t.Errorf("a live line is left on row %d:\n%s", at[0], strings.Join(final, "\n"))
	}
	if v := p.tmux("display-message", "-p", "-t", "main", "#{cursor_flag} #{cursor_x} #{pane_title}"); strings.HasPrefix(v, "0 ") || strings.Contains(v, "pwned") {
		t.Errorf("cursor visible, column and title: %q; want the cursor visible and the title not the task's", v)
	}
	colored := strings.Join(p.screen(true), "\n")
	if !strings.Contains(colored, "\x1b[31mred") {
		t.Errorf("the task's colour did not reach the terminal:\n%q", colored)
	}
}

// TestTerminalNoColor: NO_COLOR (any value) and --no-color leave no
// escape sequence at all on the screen, the task's colours included: the
// status lines are plain lines.
func TestTerminalNoColor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"NO_COLOR", []string{"NO_COLOR=1"}, nil},
		{"--no-color", nil, []string{"--no-color"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, terminalConfig, terminalScripts)
			ff := fifos(t, "live")
			p := newPane(t, deployerInPane(e, tc.env, append(tc.args, "run", "--", "laned", "live", ff[0])...))
			// Not necessarily the last row: under load the script's first
			// line can reach the stream before the worker's "started"
			// (see TestTerminalLiveStatusLine).
			p.waitFor("first line", time.Minute, func(rows []string) bool {
				return slices.Contains(rows, "first line")
			})
			release(t, ff[0])
			final := p.waitFor("end of the command", time.Minute, func(rows []string) bool {
				return len(rows) > 0 && strings.HasPrefix(rows[len(rows)-1], "[exit")
			})
			if final[len(final)-1] != "[exit 3]" {
				t.Errorf("final screen:\n%s", strings.Join(final, "\n"))
			}
			for _, want := range []string{"deployer: queued: ", "deployer: started task ", "colour red done", "deployer: failed: exit code 3"} {
				if !strings.Contains(strings.Join(final, "\n"), want) {
					t.Errorf("the screen lacks %q:\n%s", want, strings.Join(final, "\n"))
				}
			}
			if screen := strings.Join(p.screen(true), "\n"); strings.Contains(screen, "\x1b") {
				t.Errorf("an escape sequence reached the screen:\n%q", screen)
			}
		})
	}
}
