package ui

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	jobID  = "01J9Z8Y7X6W5V4T3S2R1Q0P9NM"
	batch  = "batch-01J9Z8Y7X6W5V4T3S2R1Q0P9NM"
	task   = "lt-01J9Z8Y7X6W5V4T3S2R1Q0P9NM-1"
	hostle = `<script>alert("pwned")</script><img src=x onerror=alert(1)>"'&`
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// dashboard serves s on a test server and returns a client that keeps
// its cookies and speaks as the dashboard's own pages do.
type dashboard struct {
	t      *testing.T
	s      *Server
	srv    *httptest.Server
	client *http.Client
}

func serve(t *testing.T, src Source, opts Options) *dashboard {
	t.Helper()
	s, err := New(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &dashboard{t: t, s: s, srv: srv, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// get fetches path and returns its status and body.
func (d *dashboard) get(path string) (int, string) {
	d.t.Helper()
	resp, err := d.client.Get(d.srv.URL + path)
	if err != nil {
		d.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		d.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

var tokenRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// token reads the CSRF token of a page's form.
func (d *dashboard) token(path string) string {
	d.t.Helper()
	_, body := d.get(path)
	m := tokenRE.FindStringSubmatch(body)
	if m == nil {
		d.t.Fatalf("no CSRF token in the form of %s:\n%s", path, body)
	}
	return m[1]
}

// post sends a form as a same-origin page would (Sec-Fetch-Site), with
// extra headers.
func (d *dashboard) post(path string, form url.Values, header map[string]string) (int, http.Header) {
	d.t.Helper()
	req, err := http.NewRequestWithContext(d.t.Context(), http.MethodPost, d.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", d.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := d.client.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// hostileFake is a backend whose every job-chosen text is hostile.
func hostileFake() *fake {
	f := newFake()
	code := 3
	f.addEvents(jobID,
		schemas.JobEvent{ID: "1", Time: t0, Type: schemas.EventAccepted, Container: "c" + hostle, Script: "s" + hostle,
			Argv: []string{"run", hostle}, Lane: "l" + hostle, Principal: "user:" + hostle, BatchID: batch,
			Batch: &schemas.BatchSpec{Name: hostle, Key: "k" + hostle, Size: 1, Index: 1}},
		schemas.JobEvent{ID: "2", Time: t0, Type: schemas.EventStarted, TaskID: task},
		schemas.JobEvent{ID: "3", Time: t0, Type: schemas.EventFinished, Outcome: schemas.OutcomeFailed, ExitCode: &code,
			ReasonCode: "task_failed", Reason: "exited: " + hostle},
	)
	f.addLines(task, "line "+hostle, "\x1b[31mred\x1b[0m "+hostle)
	f.logs[task] = append(f.logs[task], schemas.LogLine{Seq: 3, End: &schemas.LogEnd{Lines: 2}})
	f.batches = []producer.Batch{{ID: batch, Name: "n" + hostle, Principal: hostle, Since: t0,
		Jobs: []producer.BatchJob{{Index: 1, Key: "k" + hostle, JobSummary: producer.Summarize(f.hist[jobID])}}}}
	f.lanes = []Lane{{Name: "l" + hostle, Limit: 2, Leases: 1}}
	f.letters = []DeadLetter{{JobID: jobID, Queue: "run", Container: "c" + hostle, Script: "s" + hostle, ReasonCode: "task_failed",
		Reason: "exited: " + hostle, ExitCode: &code, Attempts: 1, FailedAt: t0, Count: 1, Replayable: true}}
	f.dry[jobID] = ReplayResult{JobID: jobID, ReplayID: jobID + "-r1", Container: "c" + hostle, Verdict: VerdictRejected,
		ReasonCode: "script_not_allowed", Reason: "because " + hostle}
	paused := true
	f.schedules = []Schedule{{Name: "nightly", Cron: "0 3 * * *" + hostle, TimeZone: "UTC", Container: "c" + hostle,
		Script: "s" + hostle, Args: []string{hostle}, Next: []time.Time{t0}, Paused: &paused, PauseReason: hostle,
		Last: &ScheduleRun{Due: t0, JobID: jobID, Status: "submitted", State: "failed", Error: hostle}}}
	return f
}

func TestHostileJobTextIsEscaped(t *testing.T) {
	d := serve(t, hostileFake(), Options{AllowActions: true})
	for _, path := range []string{"/jobs", "/jobs?state=failed", "/jobs/" + jobID, "/batches", "/batches/" + batch,
		"/lanes", "/dlq", "/dlq/" + jobID, "/schedules", "/jobs/" + jobID + "/cancel"} {
		code, body := d.get(path)
		if code != http.StatusOK {
			t.Errorf("GET %s: %d\n%s", path, code, body)
			continue
		}
		for _, raw := range []string{"<script>alert", "<img src=x", `"pwned"`, "onerror=alert(1)>"} {
			if strings.Contains(body, raw) {
				t.Errorf("GET %s: the page holds %q unescaped", path, raw)
			}
		}
		if !strings.Contains(body, "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;") {
			t.Errorf("GET %s: the hostile text is not there, escaped", path)
		}
		if n := strings.Count(body, "<script"); n != 1 || !strings.Contains(body, `<script src="/static/app.js" defer></script>`) {
			t.Errorf("GET %s: %d script elements, want the dashboard's own only", path, n)
		}
	}
	// The live log carries it as JSON, which the page sets as text.
	evs := readEvents(t, d, jobID, "", func(evs []sse) bool { return len(evs) > 0 && evs[len(evs)-1].event == "end" })
	for _, ev := range evs {
		if strings.Contains(ev.data, "<") || strings.Contains(ev.data, ">") {
			t.Errorf("event %s %s holds < or > unescaped: %s", ev.event, ev.id, ev.data)
		}
	}
	// Search params are escaped too.
	_, body := d.get("/jobs?container=" + url.QueryEscape(hostle) + "&state=" + url.QueryEscape(hostle))
	if strings.Contains(body, "<script>alert") {
		t.Error("the jobs filter echoes its query unescaped")
	}
	// The text log is plain text that no browser sniffs into HTML.
	resp, err := d.client.Get(d.srv.URL + "/jobs/" + jobID + "/log.txt")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("log.txt: Content-Type %q, X-Content-Type-Options %q", ct, resp.Header.Get("X-Content-Type-Options"))
	}
}

func TestSecurityHeaders(t *testing.T) {
	d := serve(t, hostileFake(), Options{})
	for _, path := range []string{"/jobs", "/static/app.js", "/nope", "/jobs/" + jobID + "/events"} {
		resp, err := d.client.Get(d.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: CSP %q allows inline or eval", path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: headers %v", path, h)
		}
	}
	// The session cookie is out of scripts' and other sites' reach.
	resp, err := http.Get(d.srv.URL + "/jobs")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	cookies := resp.Cookies()
	if len(cookies) != 1 || cookies[0].Name != sessionCookie || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Errorf("session cookie %+v", cookies)
	}
}

func TestReadOnlyRefusesEveryPOST(t *testing.T) {
	f := hostileFake()
	f.dry[jobID] = ReplayResult{JobID: jobID, ReplayID: jobID + "-r1", Verdict: VerdictWouldReplay}
	d := serve(t, f, Options{})
	// A read-only page offers no action at all.
	for _, path := range []string{"/jobs/" + jobID, "/dlq", "/dlq/" + jobID, "/schedules", "/jobs/" + jobID + "/cancel"} {
		if _, body := d.get(path); strings.Contains(body, `method="post"`) || strings.Contains(body, "Confirm") {
			t.Errorf("read-only %s offers an action:\n%s", path, body)
		}
	}
	// The token a form of this session would carry, had the page one:
	// the refusal is for being read-only, not for a bad token.
	_, _ = d.get("/jobs")
	u, _ := url.Parse(d.srv.URL)
	var tok string
	for _, c := range d.client.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			tok = d.s.token(c.Value)
		}
	}
	if tok == "" {
		t.Fatal("no session cookie")
	}
	for _, path := range []string{"/dlq/" + jobID + "/replay", "/jobs/" + jobID + "/cancel", "/schedules/nightly/pause",
		"/schedules/nightly/resume", "/nope", "/jobs"} {
		code, _ := d.post(path, url.Values{csrfField: {tok}}, nil)
		if code != http.StatusForbidden {
			t.Errorf("read-only POST %s: %d, want 403", path, code)
		}
	}
	for _, method := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch} {
		req, _ := http.NewRequestWithContext(t.Context(), method, d.srv.URL+"/dlq/"+jobID+"/replay", nil)
		resp, err := d.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("read-only %s: %d, want 403", method, resp.StatusCode)
		}
	}
	if len(f.replayed) != 0 || len(f.cancels) != 0 || len(f.paused) != 0 {
		t.Errorf("a read-only dashboard acted: replayed %v, cancelled %v, paused %v", f.replayed, f.cancels, f.paused)
	}
}

func TestActionsNeedTheirSessionsTokenAndTheSameOrigin(t *testing.T) {
	f := hostileFake()
	f.dry[jobID] = ReplayResult{JobID: jobID, ReplayID: jobID + "-r1", Verdict: VerdictWouldReplay}
	d := serve(t, f, Options{AllowActions: true})
	replay := "/dlq/" + jobID + "/replay"
	tok := d.token("/dlq/" + jobID)

	// Another browser's token, and a token of another server (a restart).
	other := serve(t, f, Options{AllowActions: true})
	otherTok := other.token("/dlq/" + jobID)

	for _, c := range []struct {
		name   string
		form   url.Values
		header map[string]string
		noJar  bool
	}{
		{name: "no token", form: url.Values{}},
		{name: "empty token", form: url.Values{csrfField: {""}}},
		{name: "forged token", form: url.Values{csrfField: {"AAAA"}}},
		{name: "another session's token", form: url.Values{csrfField: {otherTok}}},
		{name: "no session cookie", form: url.Values{csrfField: {tok}}, noJar: true},
		{name: "cross-site fetch", form: url.Values{csrfField: {tok}}, header: map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{name: "same-site, other origin", form: url.Values{csrfField: {tok}}, header: map[string]string{"Sec-Fetch-Site": "same-site"}},
		{name: "other Origin, no Sec-Fetch-Site", form: url.Values{csrfField: {tok}},
			header: map[string]string{"Sec-Fetch-Site": "", "Origin": "http://evil.example"}},
	} {
		dd := d
		if c.noJar {
			dd = &dashboard{t: t, s: d.s, srv: d.srv, client: &http.Client{}}
		}
		if code, _ := dd.post(replay, c.form, c.header); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", c.name, code)
		}
	}
	if len(f.replayed) != 0 {
		t.Fatalf("refused requests replayed %v", f.replayed)
	}
	// A GET never acts.
	if code, _ := d.get(replay); code != http.StatusMethodNotAllowed {
		t.Errorf("GET %s: %d, want 405", replay, code)
	}
	// The form's own request goes through: by field, or by header.
	code, h := d.post(replay, url.Values{csrfField: {tok}}, nil)
	if code != http.StatusSeeOther || h.Get("Location") != "/jobs/"+jobID+"-r1?notice=replayed" {
		t.Fatalf("replay: %d to %q", code, h.Get("Location"))
	}
	if code, _ := d.post("/schedules/nightly/resume", nil, map[string]string{csrfHeader: tok}); code != http.StatusSeeOther {
		t.Errorf("resume with the header token: %d", code)
	}
	if code, _ := d.post("/jobs/"+jobID+"/cancel", url.Values{csrfField: {tok}, "reason": {"wrong ref"}}, nil); code != http.StatusSeeOther {
		t.Errorf("cancel: %d", code)
	}
	if len(f.replayed) != 1 || f.paused["nightly"] || len(f.cancels) != 1 || f.cancels[0] != jobID+": wrong ref" {
		t.Errorf("replayed %v, paused %v, cancels %v", f.replayed, f.paused, f.cancels)
	}
}

func TestLoopbackOnlyRefusesOtherHosts(t *testing.T) {
	d := serve(t, newFake(), Options{LoopbackOnly: true})
	for host, want := range map[string]int{
		"": http.StatusOK, "localhost:8080": http.StatusOK, "127.0.0.1": http.StatusOK, "[::1]:9": http.StatusOK,
		"evil.example": http.StatusMisdirectedRequest, "evil.example:8080": http.StatusMisdirectedRequest,
		"10.0.0.1:8080": http.StatusMisdirectedRequest, "localhost.evil.example": http.StatusMisdirectedRequest,
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, d.srv.URL+"/jobs", nil)
		if host != "" {
			req.Host = host
		}
		resp, err := d.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %q: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

func TestLoopbackAddresses(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:0": true, "localhost:0": true, "LOCALHOST:1": true, "[::1]:0": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:8080": false, "10.1.2.3:8080": false, "example.com:80": false,
		"localhost.example.com:80": false,
	} {
		got, err := Loopback(addr)
		if err != nil || got != want {
			t.Errorf("Loopback(%q) = %v, %v; want %v", addr, got, err, want)
		}
	}
	for _, bad := range []string{"8080", "127.0.0.1", ""} {
		if _, err := Loopback(bad); err == nil {
			t.Errorf("Loopback(%q) accepted it", bad)
		}
	}
	ln, loopback, err := Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = ln.Close()
	if !loopback {
		t.Error("Listen(127.0.0.1:0) is not loopback")
	}
	if msg := ExposedWarning("0.0.0.0:8080", true); !strings.Contains(msg, "no login") || !strings.Contains(msg, "replay") {
		t.Errorf("ExposedWarning = %q", msg)
	}
}

func TestServeStopsWithItsContext(t *testing.T) {
	f := newFake()
	f.addEvents(jobID, schemas.JobEvent{ID: "1", Time: t0, Type: schemas.EventStarted, TaskID: task})
	s, err := New(f, Options{LogPoll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, _, err := Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	// A live log that never ends holds a request open.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+ln.Addr().String()+"/jobs/"+jobID+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}
