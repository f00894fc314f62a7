package ui

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{"jobs", "job", "cancel", "batches", "batch", "lanes", "dlq", "dryrun", "schedules", "error"}

var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"exit": func(code *int) string {
		if code == nil {
			return ""
		}
		return strconv.Itoa(*code)
	},
	// stateClass is the CSS class of a state: only its letters and
	// underscores, so that no value can add a class of its own.
	"stateClass": func(v any) string {
		s := fmt.Sprint(v)
		return "state state-" + strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r == '_' {
				return r
			}
			return -1
		}, s)
	},
	"join":  strings.Join,
	"short": short,
	"yes": func(b *bool) string {
		switch {
		case b == nil:
			return "?"
		case *b:
			return "yes"
		}
		return "no"
	},
	"deref": func(b *bool) bool { return b != nil && *b },
	"int": func(p *int) string {
		if p == nil {
			return "?"
		}
		return strconv.Itoa(*p)
	},
	"path": url.PathEscape,
}

// short makes s one line of at most 200 characters.
func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

func parsePages() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parsing the dashboard's %s page: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// page is what every page's template gets.
type page struct {
	Title   string
	Nav     string
	Where   string
	Actions bool
	CSRF    string
	Error   string
	Data    any
}

// render writes a page with status.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Where, p.Actions, p.CSRF = s.src.Where(), s.opts.AllowActions, s.csrf(r.Context())
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error("rendering the dashboard", "page", name, "err", err)
		http.Error(w, "rendering the page failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail renders an error page: err's text, escaped like everything else.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	if status >= 500 {
		s.log.Warn("dashboard request failed", "path", r.URL.Path, "err", err)
	}
	s.render(w, r, status, "error", page{Title: http.StatusText(status), Error: err.Error()})
}

// status is the HTTP status of a Source error.
func status(err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrUnsupported):
		return http.StatusNotImplemented
	}
	return http.StatusBadGateway
}

// jobsFilter is the jobs page's filter, as its query spells it.
type jobsFilter struct {
	State, Container, Lane, Batch string
	Limit                         int
}

// stateActive is the jobs page's state choice for queued and running.
const stateActive = "active"

// maxJobsLimit bounds the jobs page's limit.
const maxJobsLimit = 1000

type jobsData struct {
	Filter jobsFilter
	States []string
	Lanes  []string
	Jobs   []producer.JobSummary
}

func (s *Server) handleJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := jobsFilter{State: q.Get("state"), Container: q.Get("container"), Lane: q.Get("lane"), Batch: q.Get("batch"),
		Limit: producer.DefaultJobsLimit}
	jf := producer.JobFilter{Container: f.Container, Lane: f.Lane, BatchID: f.Batch}
	d := jobsData{Filter: f, States: []string{stateActive}}
	for _, st := range producer.JobStates() {
		d.States = append(d.States, string(st))
	}
	var problems []string
	switch st := producer.JobState(f.State); {
	case f.State == "":
	case f.State == stateActive:
		jf.States = []producer.JobState{producer.StateQueued, producer.StateRunning}
	case slices.Contains(producer.JobStates(), st):
		jf.States = []producer.JobState{st}
	default:
		problems = append(problems, fmt.Sprintf("unknown state %q: choose one of the list", f.State))
	}
	if f.Batch != "" && !schemas.ValidBatchID(f.Batch) {
		problems = append(problems, fmt.Sprintf("%q is not a batch id (batch- and a ULID)", f.Batch))
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxJobsLimit {
			problems = append(problems, fmt.Sprintf("limit must be 1 to %d, not %q", maxJobsLimit, v))
		} else {
			d.Filter.Limit = n
		}
	}
	jf.Limit = d.Filter.Limit
	if lanes, err := s.src.Lanes(r.Context()); err == nil {
		for _, l := range lanes {
			d.Lanes = append(d.Lanes, l.Name)
		}
	}
	p := page{Title: "Jobs", Nav: "jobs", Data: &d}
	if len(problems) > 0 {
		p.Error = strings.Join(problems, "; ")
		s.render(w, r, http.StatusBadRequest, "jobs", p)
		return
	}
	jobs, err := s.src.Jobs(r.Context(), jf)
	switch {
	case errors.Is(err, ErrNotFound) && f.Batch != "":
		p.Error = fmt.Sprintf("no batch %s: unknown, or its jobs have not reached the gatekeeper yet", f.Batch)
	case err != nil:
		p.Error = err.Error()
	}
	d.Jobs = jobs
	s.render(w, r, http.StatusOK, "jobs", p)
}

type eventRow struct {
	Time    time.Time
	Type    schemas.EventType
	Attempt int
	Detail  string
}

type jobData struct {
	Job       producer.JobSummary
	Events    []eventRow
	Notice    string
	CanCancel bool
}

// notices are the messages a redirect to a job page may ask for, by
// name: never text from the query itself.
var notices = map[string]string{
	"replayed":  "Replayed from the dead-letter queue: the gatekeeper accepted it.",
	"already":   "This dead letter had been replayed already: this is its replay.",
	"cancelled": "Cancel accepted: the worker stops the job's task.",
}

func (s *Server) handleJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !schemas.ValidJobID(id) {
		s.fail(w, r, http.StatusNotFound, fmt.Errorf("%q is not a job id", id))
		return
	}
	hist, err := s.src.History(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, fmt.Errorf("no job %s in the %s (yet): the gatekeeper has not recorded it", id, s.src.Where()))
		return
	}
	if err != nil {
		s.fail(w, r, status(err), err)
		return
	}
	sum := producer.Summarize(hist)
	sum.JobID = id
	d := jobData{Job: sum, Notice: notices[r.URL.Query().Get("notice")], CanCancel: s.opts.AllowActions && !sum.State.Ended()}
	for _, ev := range hist {
		if ev.Type == schemas.EventHeartbeat || ev.Type == schemas.EventLog {
			continue
		}
		d.Events = append(d.Events, eventRow{Time: ev.Time, Type: ev.Type, Attempt: ev.Attempt, Detail: detail(ev)})
	}
	s.render(w, r, http.StatusOK, "job", page{Title: "Job " + id, Nav: "jobs", Data: &d})
}

// detail says in one line what an event adds.
func detail(ev schemas.JobEvent) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+" "+v)
		}
	}
	add("by", ev.Principal)
	add("lane", ev.Lane)
	add("task", ev.TaskID)
	if ev.ExitCode != nil {
		add("exit code", strconv.Itoa(*ev.ExitCode))
	}
	add("outcome", string(ev.Outcome))
	if ev.ReasonCode != "" || ev.Reason != "" {
		parts = append(parts, strings.TrimSpace(ev.ReasonCode+": "+short(ev.Reason)))
	}
	return strings.TrimPrefix(strings.Join(parts, ", "), ": ")
}

type cancelData struct {
	Job    producer.JobSummary
	Answer *producer.CancelAnswer
}

func (s *Server) handleCancelForm(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !schemas.ValidJobID(id) {
		s.fail(w, r, http.StatusNotFound, fmt.Errorf("%q is not a job id", id))
		return
	}
	sum := producer.JobSummary{JobID: id, State: producer.StateUnknown}
	if hist, err := s.src.History(r.Context(), id); err == nil {
		sum = producer.Summarize(hist)
		sum.JobID = id
	}
	p := page{Title: "Cancel job " + id, Nav: "jobs", Data: &cancelData{Job: sum}}
	if !s.opts.AllowActions {
		p.Error = "The dashboard is read-only: start it with --allow-actions to cancel jobs (or run deployer cancel " + id + ")."
	}
	s.render(w, r, http.StatusOK, "cancel", p)
}

func (s *Server) handleCancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !schemas.ValidJobID(id) {
		s.fail(w, r, http.StatusNotFound, fmt.Errorf("%q is not a job id", id))
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		reason = "cancelled from the dashboard"
	}
	if len(reason) > schemas.MaxCancelReason {
		s.fail(w, r, http.StatusBadRequest, fmt.Errorf("the reason is longer than %d bytes", schemas.MaxCancelReason))
		return
	}
	ans, err := s.src.Cancel(r.Context(), id, reason)
	if err != nil {
		s.fail(w, r, status(err), fmt.Errorf("cancelling job %s: %w", id, err))
		return
	}
	if ans.Accepted {
		http.Redirect(w, r, "/jobs/"+url.PathEscape(id)+"?notice=cancelled", http.StatusSeeOther)
		return
	}
	sum := producer.JobSummary{JobID: id, State: producer.StateUnknown}
	if hist, err := s.src.History(r.Context(), id); err == nil {
		sum = producer.Summarize(hist)
		sum.JobID = id
	}
	s.render(w, r, http.StatusConflict, "cancel", page{Title: "Cancel job " + id, Nav: "jobs", Data: &cancelData{Job: sum, Answer: &ans}})
}

// batchRow is a batch as the pages show it.
type batchRow struct {
	producer.Batch
	Counts string
	Exit   string
}

func row(b producer.Batch) batchRow {
	counts := b.Count()
	var parts []string
	for _, st := range append(producer.JobStates(), producer.StateUnknown) {
		if n := counts[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	r := batchRow{Batch: b, Counts: strings.Join(parts, ", "), Exit: ""}
	if b.Ended() {
		r.Exit = strconv.Itoa(b.ExitCode())
	}
	return r
}

// batchesLimit is how many batches the batches page lists.
const batchesLimit = 100

func (s *Server) handleBatches(w http.ResponseWriter, r *http.Request) {
	p := page{Title: "Batches", Nav: "batches"}
	bs, err := s.src.Batches(r.Context(), batchesLimit)
	if err != nil {
		p.Error = err.Error()
	}
	rows := make([]batchRow, 0, len(bs))
	for _, b := range bs {
		rows = append(rows, row(b))
	}
	p.Data = rows
	s.render(w, r, http.StatusOK, "batches", p)
}

func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !schemas.ValidBatchID(id) {
		s.fail(w, r, http.StatusNotFound, fmt.Errorf("%q is not a batch id", id))
		return
	}
	b, err := s.src.Batch(r.Context(), id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			err = fmt.Errorf("no batch %s in the %s: unknown, or its jobs have not reached the gatekeeper yet", id, s.src.Where())
		}
		s.fail(w, r, status(err), err)
		return
	}
	s.render(w, r, http.StatusOK, "batch", page{Title: "Batch " + id, Nav: "batches", Data: row(b)})
}

// laneRow is a lane with its running and queued jobs.
type laneRow struct {
	Lane
	Running []producer.JobSummary
	Queued  []producer.JobSummary
}

// lanesScan bounds how many active jobs the lanes page lists.
const lanesScan = 1000

func (s *Server) handleLanes(w http.ResponseWriter, r *http.Request) {
	p := page{Title: "Lanes", Nav: "lanes"}
	lanes, err := s.src.Lanes(r.Context())
	if err != nil {
		s.fail(w, r, status(err), err)
		return
	}
	jobs, err := s.src.Jobs(r.Context(), producer.JobFilter{
		States: []producer.JobState{producer.StateQueued, producer.StateRunning}, Limit: lanesScan})
	if err != nil {
		p.Error = err.Error()
	}
	rows := map[string]*laneRow{}
	var names []string
	for _, l := range lanes {
		rows[l.Name] = &laneRow{Lane: l}
		names = append(names, l.Name)
	}
	// Oldest first: the order they run in.
	for _, j := range slices.Backward(jobs) {
		name := j.Lane
		if name == "" {
			name = "(not yet known)"
		}
		lr, ok := rows[name]
		if !ok {
			// A lane the configuration no longer has.
			lr = &laneRow{Lane: Lane{Name: name, Limit: j.LaneLimit, Leases: -1}}
			rows[name] = lr
			names = append(names, name)
		}
		if j.State == producer.StateRunning {
			lr.Running = append(lr.Running, j)
		} else {
			lr.Queued = append(lr.Queued, j)
		}
	}
	sort.Strings(names)
	out := make([]laneRow, 0, len(names))
	for _, n := range names {
		out = append(out, *rows[n])
	}
	p.Data = out
	s.render(w, r, http.StatusOK, "lanes", p)
}

func (s *Server) handleDLQ(w http.ResponseWriter, r *http.Request) {
	p := page{Title: "Dead letters", Nav: "dlq"}
	letters, err := s.src.DeadLetters(r.Context())
	if err != nil {
		p.Error = err.Error()
	}
	p.Data = letters
	s.render(w, r, http.StatusOK, "dlq", p)
}

type dryRunData struct {
	Letter *DeadLetter
	Result ReplayResult
	// Done is set on the page that answers a replay (not a dry run).
	Done bool
	// CanReplay: actions are allowed and the verdict lets the replay go
	// (would replay; or replayed already, which deletes the letter).
	CanReplay bool
}

func (s *Server) letter(r *http.Request, id string) *DeadLetter {
	letters, err := s.src.DeadLetters(r.Context())
	if err != nil {
		return nil
	}
	for i := range letters {
		if letters[i].JobID == id {
			return &letters[i]
		}
	}
	return nil
}

func (s *Server) handleDryRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !schemas.ValidJobID(id) {
		s.fail(w, r, http.StatusNotFound, fmt.Errorf("%q is not a job id", id))
		return
	}
	res, err := s.src.DryRun(r.Context(), id)
	if err != nil {
		s.fail(w, r, status(err), fmt.Errorf("judging the replay of job %s: %w", id, err))
		return
	}
	d := &dryRunData{Letter: s.letter(r, id), Result: res,
		CanReplay: s.opts.AllowActions && (res.Verdict == VerdictWouldReplay || res.Verdict == VerdictAlready)}
	code := http.StatusOK
	if res.Verdict == VerdictNotFound {
		code = http.StatusNotFound
	}
	s.render(w, r, code, "dryrun", page{Title: "Replay job " + id, Nav: "dlq", Data: d})
}

func (s *Server) handleReplay(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !schemas.ValidJobID(id) {
		s.fail(w, r, http.StatusNotFound, fmt.Errorf("%q is not a job id", id))
		return
	}
	res, err := s.src.Replay(r.Context(), id)
	if err != nil {
		s.fail(w, r, status(err), fmt.Errorf("replaying job %s: %w", id, err))
		return
	}
	switch res.Verdict {
	case VerdictReplayed:
		http.Redirect(w, r, "/jobs/"+url.PathEscape(res.ReplayID)+"?notice=replayed", http.StatusSeeOther)
		return
	case VerdictAlready:
		http.Redirect(w, r, "/jobs/"+url.PathEscape(res.ReplayID)+"?notice=already", http.StatusSeeOther)
		return
	}
	code := http.StatusConflict
	if res.Verdict == VerdictNotFound {
		code = http.StatusNotFound
	}
	s.render(w, r, code, "dryrun", page{Title: "Replay job " + id, Nav: "dlq", Data: &dryRunData{Letter: s.letter(r, id), Result: res, Done: true}})
}

func (s *Server) handleSchedules(w http.ResponseWriter, r *http.Request) {
	p := page{Title: "Schedules", Nav: "schedules"}
	list, err := s.src.Schedules(r.Context())
	if err != nil {
		p.Error = err.Error()
	}
	p.Data = list
	s.render(w, r, http.StatusOK, "schedules", p)
}

func (s *Server) handlePause(w http.ResponseWriter, r *http.Request)  { s.setPaused(w, r, true) }
func (s *Server) handleResume(w http.ResponseWriter, r *http.Request) { s.setPaused(w, r, false) }

func (s *Server) setPaused(w http.ResponseWriter, r *http.Request, paused bool) {
	name := r.PathValue("name")
	if err := s.src.SetPaused(r.Context(), name, paused); err != nil {
		s.fail(w, r, status(err), err)
		return
	}
	http.Redirect(w, r, "/schedules", http.StatusSeeOther)
}
