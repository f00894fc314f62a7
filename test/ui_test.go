package test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/deployerhq/deployer/schemas"
)

const uiConfig = `
containers:
  ops:
    local: {scripts_dir: SCRIPTS}
    script_config:
      talk: {allow_positional_args: true}
      record: {allow_positional_args: true}
schedules:
  nightly:
    cron: "0 3 * * *"
    container: ops
    script: record
    args: [SCRIPTS/nightly, SCRIPTS/nightly]
`

var uiScripts = map[string]string{
	// talk writes a line, waits until the test writes to its fifo, then
	// writes more: one of them hostile.
	"talk": "#!/bin/sh\necho \"first line from the task\"\nread go < \"$1\"\necho \"second line, after the release\"\n" +
		"echo \"third <b>bold</b> <script>alert(1)</script> & done\"\n",
	// record keeps its own record of every run in $1, and fails until
	// the gate file $2 exists.
	"record": "#!/bin/sh\necho run >> \"$1\"\necho \"run $(wc -l < \"$1\") recorded\"\n" +
		"[ -e \"$2\" ] || { echo \"no gate yet\"; exit 3; }\necho \"passed the gate\"\n",
}

var dashboardAt = regexp.MustCompile(`dashboard of the .* at (http://127\.0\.0\.1:\d+/)`)

// browser returns the headless Chromium to test the dashboard in. Without
// one the test skips, saying so, unless DEPLOYER_TEST_BROWSER is set (as
// .ci/run sets it once it installed chromium): then it fails.
func browser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("DEPLOYER_TEST_BROWSER") != "" {
		t.Fatal("DEPLOYER_TEST_BROWSER is set but no chromium is on PATH (apt-get install chromium)")
	}
	t.Skip("SKIPPED: no chromium on PATH, so the dashboard was not tested in a browser (apt-get install chromium; .ci/run installs it and sets DEPLOYER_TEST_BROWSER=1)")
	return ""
}

// artifacts is where the test's screenshots go: $DEPLOYER_TEST_ARTIFACTS
// (which .ci/run sets and prints), else the test's temporary directory.
func artifacts(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("DEPLOYER_TEST_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// headless starts Chromium headless and returns its context; the page's
// console messages are collected, and returned by the func, which stops
// the browser.
func headless(t *testing.T, exe string) (ctx context.Context, stop func() []chromedp.ConsoleMessage) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", "new"),
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	// The first call starts the browser, for as long as bctx lives.
	messages := chromedp.Console(bctx)
	var (
		mu   sync.Mutex
		seen []chromedp.ConsoleMessage
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			seen = append(seen, m)
			mu.Unlock()
		}
	}()
	var once sync.Once
	stop = func() []chromedp.ConsoleMessage {
		once.Do(func() {
			cancelBrowser()
			cancelAlloc()
			<-done
		})
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
	t.Cleanup(func() { stop() })
	return bctx, stop
}

// step runs actions in the browser within d.
func step(t *testing.T, ctx context.Context, what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitFor waits until a JavaScript predicate holds in the page, checking
// it again on every change of the page (no sleeping), for up to d.
func waitFor(t *testing.T, ctx context.Context, what, predicate string, d time.Duration) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, d+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(sctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(d))); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("waiting for %s (%s): %v\nthe page says:\n%s", what, predicate, err, html)
	}
}

// screenshot saves the whole page as a PNG artifact.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// logLines is the script that reads the job page's log lines.
const logLines = `Array.from(document.querySelectorAll('#log .line')).map(e => e.textContent)`

// streamEnded holds once a job page shows its job succeeded and its
// events stream has ended (app.js's end event), so that every line has
// arrived. The page of a job that ended before it loaded says "complete"
// at once, from the server, before a line has arrived.
const streamEnded = `document.getElementById('state').textContent === 'succeeded' && ` +
	`document.getElementById('log-status').textContent === 'complete' && ` +
	`document.getElementById('log').dataset.complete === 'true'`

func TestDashboardInChromium(t *testing.T) {
	t.Parallel()
	exe := browser(t)
	shots := artifacts(t)
	e := newEnv(t, uiConfig, uiScripts)
	e.serve(t)
	ui := e.start("ui", "--addr", "127.0.0.1:0", "--allow-actions")
	base := ui.stderr.waitFor(t, dashboardAt, 30*time.Second)[1]
	ctx, stop := headless(t, exe)

	// A job that writes a line, then waits for the test.
	fifo := filepath.Join(t.TempDir(), "release")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	run := e.start("run", "--", "ops", "talk", fifo)
	id := run.stderr.waitFor(t, jobSubmitted, 30*time.Second)[1]
	run.stdout.waitFor(t, regexp.MustCompile(`^first line from the task$`), 60*time.Second)

	step(t, ctx, "opening the job page", 30*time.Second, chromedp.Navigate(base+"jobs/"+id))
	waitFor(t, ctx, "the line written so far", `document.querySelectorAll('#log .line').length === 1 && `+
		`document.querySelector('#log .line').textContent === 'first line from the task'`, 30*time.Second)
	waitFor(t, ctx, "the job shown running", `document.getElementById('state').textContent === 'running'`, 30*time.Second)
	// Marks this very page: it must still be there when the rest arrives.
	eval[chromedp.Void](t, ctx, `window.deployerTestMark = 'same page'`)

	// The job goes on: its next lines appear on the open page.
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("go\n"); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	waitFor(t, ctx, "the lines written after the release", `document.querySelectorAll('#log .line').length === 3`, 60*time.Second)
	waitFor(t, ctx, "the job's end", streamEnded, 60*time.Second)
	if code := run.wait(t, time.Minute); code != 0 {
		t.Fatalf("run: exit code %d; stderr:\n%s", code, run.stderr.text())
	}
	got := eval[[]string](t, ctx, logLines)
	want := []string{"first line from the task", "second line, after the release", "third <b>bold</b> <script>alert(1)</script> & done"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the job page's log:\n%q\nwant:\n%q", got, want)
	}
	if !eval[bool](t, ctx, `document.getElementById('cancel-link').hidden`) {
		t.Error("the ended job's page still offers to cancel it")
	}
	if mark := eval[string](t, ctx, `window.deployerTestMark || ''`); mark != "same page" {
		t.Error("the job page was reloaded: the lines did not come live")
	}
	// The hostile line is text: no element of its making.
	if n := eval[int](t, ctx, `document.querySelectorAll('#log b, #log script, body script:not([src])').length`); n != 0 {
		t.Errorf("the job's output made %d elements in the page", n)
	}
	screenshot(t, ctx, shots, "ui-job.png")

	// A job that fails lands in the dead-letter queue.
	record, gate := filepath.Join(t.TempDir(), "record"), filepath.Join(t.TempDir(), "gate")
	dead := e.deadLetter(t, "ops", "record", record, gate)
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "opening the dead-letter queue", 30*time.Second, chromedp.Navigate(base+"dlq"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-job="`+dead+`"] a.button`)))
	screenshot(t, ctx, shots, "ui-dlq.png")
	// Replay: the dry run first, then confirm.
	step(t, ctx, "asking to replay", 30*time.Second, chromedp.Click(chromedp.CSS(`tr[data-job="`+dead+`"] a.button`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm-replay`)))
	if v := eval[string](t, ctx, `document.getElementById('verdict').dataset.verdict`); v != "would_replay" {
		t.Fatalf("the dry run's verdict is %q, want would_replay", v)
	}
	step(t, ctx, "confirming the replay", 90*time.Second, chromedp.Click(chromedp.CSS(`#confirm-replay`)),
		chromedp.WaitVisible(chromedp.CSS(`#log`)))
	loc := eval[string](t, ctx, `location.pathname`)
	if loc != "/jobs/"+dead+"-r1" {
		t.Fatalf("after the replay the browser is at %s, want the replay's job page", loc)
	}
	waitFor(t, ctx, "the replay's end", streamEnded, 90*time.Second)
	got = eval[[]string](t, ctx, logLines)
	if strings.Join(got, "\n") != "run 2 recorded\npassed the gate" {
		t.Errorf("the replay's log: %q", got)
	}
	b, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "run\nrun\n" {
		t.Errorf("the script's own record = %q, want two runs", b)
	}
	if l := e.dlqList(t); len(l) != 0 {
		t.Errorf("dead letters left after the replay: %+v", l)
	}
	screenshot(t, ctx, shots, "ui-replayed.png")

	// Every other page loads.
	for _, page := range []string{"jobs", "jobs?state=succeeded", "lanes", "batches", "schedules"} {
		step(t, ctx, "opening "+page, 30*time.Second, chromedp.Navigate(base+page), chromedp.WaitVisible(chromedp.CSS(`main h1`)))
	}
	step(t, ctx, "opening the jobs", 30*time.Second, chromedp.Navigate(base+"jobs"), chromedp.WaitVisible(chromedp.CSS(`table.jobs`)))
	screenshot(t, ctx, shots, "ui-jobs.png")

	// Nothing the page did was refused or failed: no script error, no
	// Content Security Policy violation.
	for _, m := range stop() {
		if m.Type == chromedp.ConsoleError || m.IsException() || m.Source == "security" {
			t.Errorf("browser console: %s (%s)", m, m.URL)
		}
	}
}

// dashboardToken reads a page of the dashboard with a client that keeps
// its session cookie, and returns the CSRF token of its first form.
func dashboardToken(t *testing.T, c *http.Client, page string) string {
	t.Helper()
	resp, err := c.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET %s: %d, no form token:\n%s", page, resp.StatusCode, body)
	}
	return string(m[1])
}

func newJar(t *testing.T) *cookiejar.Jar {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return jar
}

func TestUpServesTheDashboard(t *testing.T) {
	t.Parallel()
	e := newEnv(t, uiConfig, uiScripts)
	up := e.start("up", "--ui-addr", "127.0.0.1:0", "--ui-allow-actions")
	base := up.stderr.waitFor(t, dashboardAt, 30*time.Second)[1]
	up.stderr.waitFor(t, regexp.MustCompile(`serving`), 30*time.Second)

	jar := newJar(t)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tok := dashboardToken(t, c, base+"schedules")
	post := func(path string, form url.Values) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", strings.TrimSuffix(base, "/"))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("schedules/nightly/pause", url.Values{"csrf": {tok}}); code != http.StatusSeeOther {
		t.Fatalf("pausing from the dashboard: %d", code)
	}
	if r := e.run("schedules", "--output", "json"); r.code != 0 || !strings.Contains(r.stdout, `"paused":true`) ||
		!strings.Contains(r.stdout, "paused from the dashboard") {
		t.Fatalf("deployer schedules after a pause from the dashboard: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if code := post("schedules/nightly/resume", url.Values{"csrf": {"forged"}}); code != http.StatusForbidden {
		t.Errorf("resuming with a forged token: %d, want 403", code)
	}
	if code := post("schedules/nightly/resume", url.Values{"csrf": {tok}}); code != http.StatusSeeOther {
		t.Fatalf("resuming from the dashboard: %d", code)
	}
	if r := e.run("schedules", "--output", "json"); !strings.Contains(r.stdout, `"paused":false`) {
		t.Fatalf("deployer schedules after the resume:\n%s%s", r.stdout, r.stderr)
	}

	// A running job cancelled from the dashboard: the gatekeeper takes
	// the cancel as this user's (the dashboard's caller), the job ends
	// cancelled and its caller exits 130.
	fifo := filepath.Join(t.TempDir(), "release")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	run := e.start("run", "--", "ops", "talk", fifo)
	id := run.stderr.waitFor(t, jobSubmitted, 30*time.Second)[1]
	run.stdout.waitFor(t, regexp.MustCompile(`^first line from the task$`), 60*time.Second)
	// While it runs, its lane and the active jobs show it.
	for page, want := range map[string]string{
		"lanes":             "1 running of 10, 0 queued",
		"jobs?state=active": `<span class="state state-running">running</span>`,
	} {
		resp, err := c.Get(base + page)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) || !strings.Contains(string(body), "/jobs/"+id) {
			t.Errorf("GET %s while job %s runs: %d, want %q and the job:\n%s", page, id, resp.StatusCode, want, body)
		}
	}
	if code := post("jobs/"+id+"/cancel", url.Values{"csrf": {dashboardToken(t, c, base+"jobs/"+id+"/cancel")}, "reason": {"from the test"}}); code != http.StatusSeeOther {
		t.Fatalf("cancelling from the dashboard: %d", code)
	}
	if code := run.wait(t, time.Minute); code != 130 {
		t.Fatalf("run of the cancelled job exited %d, want 130; stderr:\n%s", code, run.stderr.text())
	}
	r := e.run("status", "--output", "json", id)
	var asked bool
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var ev schemas.JobEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("status line %q: %v", line, err)
		}
		if ev.Type == schemas.EventCancelRequested {
			asked = strings.HasPrefix(ev.Principal, "user:") && ev.Reason == "from the test"
		}
	}
	if !asked {
		t.Errorf("the job's history does not record the dashboard's cancel, asked by its OS user:\n%s%s", r.stdout, r.stderr)
	}

	// A read-only "deployer ui" beside it refuses every action.
	ro := e.start("ui", "--addr", "127.0.0.1:0")
	roBase := ro.stderr.waitFor(t, dashboardAt, 30*time.Second)[1]
	if !strings.Contains(ro.stderr.text(), "read-only") {
		t.Errorf("deployer ui does not say it is read-only:\n%s", ro.stderr.text())
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, roBase+"schedules/nightly/pause", strings.NewReader("csrf=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("read-only dashboard: a POST got %d, want 403", resp.StatusCode)
	}
	if r := e.run("schedules", "--output", "json"); !strings.Contains(r.stdout, `"paused":false`) {
		t.Errorf("the read-only dashboard paused the schedule:\n%s", r.stdout)
	}
}
