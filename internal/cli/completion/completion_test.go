package completion

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"
	"github.com/spf13/cobra"
	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/embedded"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testConfig allow-lists two containers, one described with terminal
// escapes, and a schedule.
const testConfig = `lanes:
  deploys: {concurrency: 2}
containers:
  infra:
    description: "Terraform\tplans\e]0;pwned\a\e[2J and applies"
    lane: deploys
    local: {scripts_dir: ./scripts}
    script_config:
      plan:
        allowed_options: [--path, --command, --ref, --var]
        allowed_options_without_args: [--refresh-only]
        repeatable_options: [--var]
        restricted_options: [--destroy]
        restricted_options_regex:
          --command: "^(?:plan|plan-all|validate)$"
          --ref: "^(main|[0-9a-f]{40})$"
      apply:
        allowed_options: []
  web:
    local: {scripts_dir: ./scripts}
    script_config:
      build:
        allow_positional_args: true
        allowed_options: []
schedules:
  nightly:
    cron: "0 3 * * *"
    container: web
    script: build
`

// env is a configuration, a state directory and a cache directory.
type env struct {
	t      *testing.T
	dir    string
	config string
	state  string
	cache  string
	vars   map[string]string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, config: filepath.Join(dir, "deployer.yaml"), state: filepath.Join(dir, "state"), cache: filepath.Join(dir, "cache")}
	if err := os.MkdirAll(filepath.Join(dir, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"plan", "apply", "build"} {
		if err := os.WriteFile(filepath.Join(dir, "scripts", s), []byte("#!/bin/sh\n"), 0o755); err != nil { //nolint:gosec // a test script
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(e.config, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	e.vars = map[string]string{"XDG_CACHE_HOME": e.cache}
	clock = time.Now
	t.Cleanup(func() { clock = time.Now })
	return e
}

func (e *env) factory() *factory.Factory {
	return &factory.Factory{
		Getenv:     func(k string) string { return e.vars[k] },
		Executable: os.Executable,
		ConfigPath: e.config,
		StateDir:   e.state,
	}
}

func (e *env) completer() *completer { return &completer{f: e.factory()} }

func (e *env) cmd() *cobra.Command {
	c := &cobra.Command{Use: "x"}
	c.SetContext(e.t.Context())
	return c
}

// backend opens the state directory to write what the tests complete.
func (e *env) backend() *embedded.Backend {
	e.t.Helper()
	b, err := embedded.Open(e.t.Context(), e.state, embedded.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = b.Close() })
	return b
}

// record journals a job submitted at `at` and returns its id.
func record(t *testing.T, b *embedded.Backend, at time.Time, container, script string, argv []string, steps ...schemas.EventType) string {
	t.Helper()
	id := ulid.MustNew(ulid.Timestamp(at), rand.Reader).String()
	evs := []schemas.JobEvent{{Type: schemas.EventAccepted, Container: container, Script: script, Argv: argv, Lane: "deploys", LaneLimit: 2}}
	for _, st := range steps {
		ev := schemas.JobEvent{Type: st}
		if st == schemas.EventFinished {
			code := 0
			ev.Outcome, ev.ExitCode = schemas.OutcomeSucceeded, &code
		}
		evs = append(evs, ev)
	}
	for i := range evs {
		evs[i].Schema, evs[i].JobID, evs[i].ID, evs[i].Attempt = schemas.JobEventV1, id, string(evs[i].Type), 1
		evs[i].Time = at.Add(time.Duration(i) * time.Second)
	}
	if err := b.Journal.Append(t.Context(), id, evs...); err != nil {
		t.Fatal(err)
	}
	return id
}

// checkPrintable fails unless every candidate is one printable line: a
// name, and at most one tab before its description.
func checkPrintable(t *testing.T, cands []cobra.Completion) {
	t.Helper()
	for _, c := range cands {
		name, desc, _ := strings.Cut(c, "\t")
		if strings.Contains(desc, "\t") || !utf8.ValidString(c) || utf8.RuneCountInString(desc) > maxDesc {
			t.Errorf("candidate %q: more than one tab, invalid UTF-8 or too long", c)
		}
		for _, r := range name + desc {
			if !unicode.IsPrint(r) {
				t.Errorf("candidate %q holds %U", c, r)
			}
		}
	}
}

func TestRunCompletesContainersScriptsOptionsAndValues(t *testing.T) {
	e := newEnv(t)
	c := e.completer()
	cases := []struct {
		args       []string
		toComplete string
		want       []string
	}{
		{nil, "", []string{"infra", "web"}},
		{nil, "w", []string{"web"}},
		{[]string{"infra"}, "", []string{"apply", "plan"}},
		{[]string{"web"}, "", []string{"build"}},
		{[]string{"nope"}, "", nil},
		{[]string{"infra", "plan"}, "", []string{"--command", "--path", "--ref", "--refresh-only", "--var"}},
		{[]string{"infra", "plan"}, "--r", []string{"--ref", "--refresh-only"}},
		{[]string{"infra", "plan", "--command"}, "", []string{"plan", "plan-all", "validate"}},
		{[]string{"infra", "plan"}, "--command=p", []string{"--command=plan", "--command=plan-all"}},
		{[]string{"infra", "plan", "--ref"}, "", nil},
		{[]string{"infra", "apply"}, "", nil},
		{[]string{"infra", "nope"}, "", nil},
	}
	for _, tc := range cases {
		got, dir := c.runArgs(e.cmd(), tc.args, tc.toComplete)
		if !slices.Equal(names(got), tc.want) || dir != cobra.ShellCompDirectiveNoFileComp {
			t.Errorf("run %q %q: %q (directive %d), want %q", tc.args, tc.toComplete, names(got), dir, tc.want)
		}
		checkPrintable(t, got)
	}
	got, _ := c.runArgs(e.cmd(), nil, "infra")
	if len(got) != 1 || !strings.Contains(got[0], `Terraform\tplans\x1b]0;pwned\a\x1b[2J`) {
		t.Errorf("the container's description is not shown escaped: %q", got)
	}
	lanes, _ := c.laneNames(e.cmd(), nil, "")
	if !slices.Equal(names(lanes), []string{"default", "deploys"}) {
		t.Errorf("lanes %q", names(lanes))
	}
	e.cmd()
	scripts, _ := c.scriptNames(e.cmd(), nil, "")
	if !slices.Equal(names(scripts), []string{"apply", "build", "plan"}) {
		t.Errorf("scripts %q", names(scripts))
	}
}

func TestJobIDsNewestFirstDescribedOnOnePrintableLine(t *testing.T) {
	e := newEnv(t)
	b := e.backend()
	now := time.Now().UTC().Truncate(time.Millisecond)
	hostile := []string{"\x1b]0;pwned\x07", "line1\nline2\r", "tab\there", "\u202eevil", strings.Repeat("x", 100_000), "\xff"}
	old := record(t, b, now.Add(-3*time.Hour), "infra", "plan", []string{"--path", "vpc"}, schemas.EventQueued, schemas.EventStarted, schemas.EventFinished)
	running := record(t, b, now.Add(-2*time.Hour), "infra", "plan", hostile, schemas.EventQueued, schemas.EventStarted)
	queued := record(t, b, now.Add(-time.Hour), "web\x1b[2J", "build", nil, schemas.EventQueued)
	c := e.completer()

	got, dir := c.jobIDs()(e.cmd(), nil, "")
	if want := []string{queued, running, old}; !slices.Equal(names(got), want) {
		t.Fatalf("job ids %q, want newest first %q", names(got), want)
	}
	if dir != cobra.ShellCompDirectiveNoFileComp|cobra.ShellCompDirectiveKeepOrder {
		t.Errorf("directive %d: the shell must keep the order", dir)
	}
	checkPrintable(t, got)
	if !strings.Contains(got[1], "\tinfra plan '\\x1b]0;pwned\\a' ") || !strings.Contains(got[2], "infra plan --path vpc · succeeded · 3h ago") {
		t.Errorf("descriptions %q", got)
	}
	if got, _ := firstArg(c.jobIDs(producer.StateQueued, producer.StateRunning))(e.cmd(), nil, ""); !slices.Equal(names(got), []string{queued, running}) {
		t.Errorf("unended jobs %q", names(got))
	}
	if got, _ := c.jobIDs()(e.cmd(), nil, running[:20]); !slices.Equal(names(got), []string{running}) {
		t.Errorf("by prefix %q", names(got))
	}
	if got, _ := firstArg(c.jobIDs())(e.cmd(), []string{old}, ""); len(got) != 0 {
		t.Errorf("a second job id offered: %q", got)
	}
}

func TestBatchIDs(t *testing.T) {
	e := newEnv(t)
	b := e.backend()
	now := time.Now().UTC().Truncate(time.Millisecond)
	batch := func(at time.Time, name string, steps ...schemas.EventType) string {
		id := schemas.BatchIDPrefix + ulid.MustNew(ulid.Timestamp(at), rand.Reader).String()
		job := record(t, b, at, "web", "build", nil, steps...)
		evs, err := b.Journal.Read(t.Context(), job)
		if err != nil {
			t.Fatal(err)
		}
		for i := range evs {
			evs[i].BatchID = id
			if evs[i].Type == schemas.EventAccepted {
				evs[i].Batch = &schemas.BatchSpec{Name: name, Size: 1, Index: 1}
			}
		}
		if err := b.Journal.Append(t.Context(), id, evs...); err != nil {
			t.Fatal(err)
		}
		return id
	}
	ended := batch(now.Add(-2*time.Hour), "nightly\x1b[2J", schemas.EventQueued, schemas.EventStarted, schemas.EventFinished)
	running := batch(now.Add(-time.Hour), "amis", schemas.EventQueued)
	c := e.completer()
	got, _ := c.batchIDs(false)(e.cmd(), nil, "")
	if !slices.Equal(names(got), []string{running, ended}) {
		t.Fatalf("batch ids %q", got)
	}
	checkPrintable(t, got)
	if !strings.Contains(got[1], `nightly\x1b[2J · 1 jobs · ended, exit 0 · 2h ago`) {
		t.Errorf("description %q", got[1])
	}
	if got, _ := c.batchIDs(true)(e.cmd(), nil, ""); !slices.Equal(names(got), []string{running}) {
		t.Errorf("batches that have not ended %q", names(got))
	}
}

func TestDeadLettersAreLookedAtNotReceived(t *testing.T) {
	e := newEnv(t)
	b := e.backend()
	id := ulid.Make().String()
	code := 1
	dl := schemas.DeadLetter{JobID: id,
		Request: &schemas.JobRequest{JobID: id, Container: "infra", Script: "plan", Args: schemas.ArgList("--path", "\x1b[2Jvpc")},
		Failure: schemas.Failure{Outcome: schemas.OutcomeFailed, ReasonCode: "task_failed", ExitCode: &code, Attempts: 1, Time: time.Now().Add(-time.Hour)}}
	body, err := dl.Encode()
	if err != nil {
		t.Fatal(err)
	}
	_, runs := b.DeadLetterQueues()
	if _, err := runs.Send(t.Context(), queue.Outgoing{Body: body}); err != nil {
		t.Fatal(err)
	}
	c := e.completer()
	got, _ := c.deadLetters(false)(e.cmd(), nil, "")
	if !slices.Equal(names(got), []string{id}) || !strings.Contains(got[0], `infra plan --path '\x1b[2Jvpc' · failed (task_failed) · 1h ago`) {
		t.Fatalf("dead letters %q", got)
	}
	checkPrintable(t, got)
	if got, _ := c.deadLetters(true)(e.cmd(), []string{id}, ""); len(got) != 0 {
		t.Errorf("replay offers a job id already given: %q", got)
	}
	if got, _ := c.deadLetters(false)(e.cmd(), []string{id}, ""); len(got) != 0 {
		t.Errorf("show offers a second job id: %q", got)
	}
	// Still there and visible: nothing received it.
	msgs, err := runs.Receive(t.Context(), queue.ReceiveOptions{Max: 10, Visibility: time.Second})
	if err != nil || len(msgs) != 1 || msgs[0].ReceiveCount != 1 {
		t.Fatalf("the dead letter after completing: %+v, %v", msgs, err)
	}
}

func TestScheduleNames(t *testing.T) {
	e := newEnv(t)
	got, _ := e.completer().scheduleNames(e.cmd(), nil, "")
	if !slices.Equal(got, []cobra.Completion{"nightly\tweb build · 0 3 * * *"}) {
		t.Fatalf("schedules %q", got)
	}
}

// Completing job ids reads the state directory: one that does not exist
// offers nothing, and is not created.
func TestNoStateDirectoryOffersNothingAndCreatesNothing(t *testing.T) {
	e := newEnv(t)
	c := e.completer()
	for _, fn := range []cobra.CompletionFunc{c.jobIDs(), c.batchIDs(false), c.deadLetters(true)} {
		if got, _ := fn(e.cmd(), nil, ""); len(got) != 0 {
			t.Errorf("candidates %q from no state directory", got)
		}
	}
	if _, err := os.Stat(e.state); !os.IsNotExist(err) {
		t.Fatalf("state directory: %v, want none", err)
	}
}

func TestDescribeIsCachedBriefly(t *testing.T) {
	e := newEnv(t)
	c := e.completer()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clock = func() time.Time { return now }
	got, _ := c.runArgs(e.cmd(), nil, "")
	if !slices.Equal(names(got), []string{"infra", "web"}) {
		t.Fatalf("containers %q", names(got))
	}
	path, err := c.cachePath()
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700 | os.ModeDir} {
		if st, err := os.Stat(p); err != nil || st.Mode() != want {
			t.Fatalf("%s: %v, %v; want mode %v", p, st.Mode(), err, want)
		}
	}
	var cached entry
	data, _ := os.ReadFile(path) //nolint:gosec // the test's cache
	if err := json.Unmarshal(data, &cached); err != nil || len(cached.Containers) != 2 || cached.Containers[0].Environment != nil {
		t.Fatalf("cache %s: %v", data, err)
	}

	// A fresh entry answers instead of the configuration.
	writeEntry(path, entry{Written: now, Containers: []schemas.ContainerInfo{{Name: "from-cache"}}})
	now = now.Add(CacheTTL - time.Second)
	if got, _ := c.runArgs(e.cmd(), nil, ""); !slices.Equal(names(got), []string{"from-cache"}) {
		t.Fatalf("containers %q, want the cached answer", names(got))
	}
	// A stale one does not.
	now = now.Add(2 * time.Second)
	if got, _ := c.runArgs(e.cmd(), nil, ""); !slices.Equal(names(got), []string{"infra", "web"}) {
		t.Fatalf("containers %q after the cache expired", names(got))
	}
	// Nor one from the future.
	writeEntry(path, entry{Written: now.Add(time.Hour), Containers: []schemas.ContainerInfo{{Name: "from-cache"}}})
	if got, _ := c.runArgs(e.cmd(), nil, ""); !slices.Equal(names(got), []string{"infra", "web"}) {
		t.Fatalf("containers %q from an entry dated in the future", names(got))
	}

	// A failure is remembered less long.
	writeEntry(path, entry{Written: now, Failed: true})
	if got, _ := c.runArgs(e.cmd(), nil, ""); len(got) != 0 {
		t.Fatalf("containers %q despite a failure a moment ago", names(got))
	}
	now = now.Add(failureTTL)
	if got, _ := c.runArgs(e.cmd(), nil, ""); len(got) != 2 {
		t.Fatalf("containers %q once the failure is old", names(got))
	}
}

func TestCacheKeyFollowsTheSettings(t *testing.T) {
	e := newEnv(t)
	path := func(f *factory.Factory) string {
		t.Helper()
		p, err := (&completer{f: f}).cachePath()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := path(e.factory())
	if filepath.Dir(base) != filepath.Join(e.cache, "deployer") {
		t.Fatalf("cache file %s is not in $XDG_CACHE_HOME/deployer", base)
	}
	if again := path(e.factory()); again != base {
		t.Fatalf("the same settings give %s and %s", base, again)
	}
	f := e.factory()
	f.StateDir = filepath.Join(e.dir, "other")
	if path(f) == base {
		t.Error("another state directory shares the cache entry")
	}
	if err := os.WriteFile(e.config, []byte(testConfig+"\n# edited\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if path(e.factory()) == base {
		t.Error("an edited configuration shares the cache entry")
	}
	aws := func(region, profile string) string {
		f := e.factory()
		f.BackendName, f.Region = factory.BackendAWS, region
		e.vars["AWS_PROFILE"] = profile
		defer delete(e.vars, "AWS_PROFILE")
		return path(f)
	}
	if a := aws("eu-west-1", "ci"); a == base || a == aws("us-east-1", "ci") || a == aws("eu-west-1", "admin") {
		t.Error("AWS settings share a cache entry")
	}
}

// A cache file that is not a regular file is not read, and writing
// replaces it instead of writing through it.
func TestCacheIgnoresASymlink(t *testing.T) {
	e := newEnv(t)
	c := e.completer()
	path, err := c.cachePath()
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(e.dir, "elsewhere.json")
	data, _ := json.Marshal(entry{Written: time.Now(), Containers: []schemas.ContainerInfo{{Name: "planted"}}})
	if err := os.WriteFile(target, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.runArgs(e.cmd(), nil, ""); !slices.Equal(names(got), []string{"infra", "web"}) {
		t.Fatalf("containers %q", names(got))
	}
	if after, _ := os.ReadFile(target); string(after) != string(data) { //nolint:gosec // the test's file
		t.Fatal("the symlink's target was written")
	}
	if st, err := os.Lstat(path); err != nil || !st.Mode().IsRegular() {
		t.Fatalf("cache file: %v, %v", st, err)
	}
}

func TestBoundedGivesUpAtTheTimeout(t *testing.T) {
	timeout = 50 * time.Millisecond
	t.Cleanup(func() { timeout = Timeout })
	release := make(chan struct{})
	defer running.Wait()
	defer close(release)
	start := time.Now()
	_, err := bounded(nil, timeout, func(context.Context) (int, error) {
		<-release // a store that does not heed its context
		return 1, nil
	})
	if !errors.Is(err, errTimedOut) || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %s", err, time.Since(start))
	}
	if _, err := bounded(nil, timeout, func(context.Context) (int, error) { panic("boom") }); err == nil {
		t.Fatal("a panic is no error")
	}
}

// A gatekeeper that does not answer in time: no candidates within the
// timeout, and the failure is remembered so that the next TAB does not
// ask again at once.
func TestDescribeTimeoutIsRemembered(t *testing.T) {
	e := newEnv(t)
	timeout = time.Nanosecond
	t.Cleanup(func() {
		running.Wait() // the describe given up on, before its directory goes
		timeout = Timeout
	})
	c := e.completer()
	if got, _ := c.runArgs(e.cmd(), nil, ""); len(got) != 0 {
		t.Fatalf("containers %q past the timeout", got)
	}
	path, err := c.cachePath()
	if err != nil {
		t.Fatal(err)
	}
	// The abandoned describe may still write its answer; either way the
	// cache holds an entry now.
	if _, ok := readEntry(path); !ok {
		t.Fatal("no cache entry after a timeout")
	}
}

func TestTimeoutFromTheEnvironment(t *testing.T) {
	e := newEnv(t)
	for v, want := range map[string]time.Duration{"": Timeout, "5s": 5 * time.Second, "1h": MaxTimeout, "-1s": Timeout, "soon": Timeout} {
		e.vars["DEPLOYER_COMPLETION_TIMEOUT"] = v
		if got := e.completer().limit(); got != want {
			t.Errorf("DEPLOYER_COMPLETION_TIMEOUT=%q: %s, want %s", v, got, want)
		}
	}
}

func TestRegisterKeepsACommandsOwnCompletion(t *testing.T) {
	root := &cobra.Command{Use: "deployer"}
	run := &cobra.Command{Use: "run", Run: func(*cobra.Command, []string) {}}
	run.Flags().String("output", "text", "")
	own := func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return []cobra.Completion{"github"}, cobra.ShellCompDirectiveNoFileComp
	}
	if err := run.RegisterFlagCompletionFunc("output", own); err != nil {
		t.Fatal(err)
	}
	var out string
	wait := &cobra.Command{Use: "wait", Run: func(*cobra.Command, []string) {}}
	factory.JobOutputFlag(wait, &out, "")
	// A job-printing command Register knows nothing of, by its declaration.
	follow := &cobra.Command{Use: "follow", Run: func(*cobra.Command, []string) {}}
	factory.JobOutputFlag(follow, &out, "")
	jobs := &cobra.Command{Use: "jobs", Run: func(*cobra.Command, []string) {}}
	jobs.Flags().String("output", "text", "")
	root.PersistentFlags().String("backend", "", "")
	root.AddCommand(run, wait, follow, jobs)
	Register(root, &factory.Factory{Getenv: func(string) string { return "" }})
	check := func(c *cobra.Command, flag string, want ...string) {
		t.Helper()
		fn, ok := c.GetFlagCompletionFunc(flag)
		if !ok {
			t.Fatalf("%s --%s: no completion", c.Name(), flag)
		}
		if got, _ := fn(c, nil, ""); !slices.Equal(got, want) {
			t.Fatalf("%s --%s: %q, want %q", c.Name(), flag, got, want)
		}
	}
	check(run, "output", "github")
	check(wait, "output", factory.JobOutputs...) // it prints a job's output: the CI dialects too
	check(follow, "output", factory.JobOutputs...)
	check(jobs, "output", "text", "json")
	check(root, "backend", "embedded", "aws")
	if run.ValidArgsFunction == nil || wait.ValidArgsFunction == nil {
		t.Fatal("arguments not completed")
	}
}

func TestRequest(t *testing.T) {
	root := &cobra.Command{Use: "deployer"}
	root.PersistentFlags().String("config", "", "")
	root.Flags().String("aws-region", "", "")
	root.Flags().Bool("no-wait", false, "")
	run := &cobra.Command{Use: "run"}
	run.Flags().String("output", "", "")
	run.Flags().Bool("no-wait", false, "")
	root.AddCommand(run, &cobra.Command{Use: "wait"})
	const m = scriptWord
	cases := []struct{ in, want string }{
		// The run-less form is run's.
		{"__complete -- ", "__complete run -- "},
		{"__complete --aws-region eu-west-1 --no-wait -- demo p", "__complete run --aws-region eu-west-1 --no-wait -- demo p"},
		{"__completeNoDesc --config=x -- demo ", "__completeNoDesc run --config=x -- demo "},
		{"__complete --aws-region wait x", "__complete --aws-region wait x"},       // "wait" is the region
		{"__complete --aws-region -- -- x", "__complete run --aws-region -- -- x"}, // so is "--", as pflag reads it
		{"__complete --aws-region ", "__complete --aws-region "},
		// A script's arguments are not deployer's flags.
		{"__complete run -- demo plan --output ", "__complete run -- demo plan " + m + "--output "},
		{"__complete run --output json demo plan --config=", "__complete run --output json demo plan " + m + "--config="},
		{"__complete --config c -- demo plan x -- --output=", "__complete run --config c -- demo plan x " + m + "-- " + m + "--output="},
		{"__complete run -- demo --", "__complete run -- demo --"},
		{"__complete run --output ", "__complete run --output "},
		// Other commands are left alone.
		{"__complete wait -- ", "__complete wait -- "},
		{"__complete --", "__complete --"},
		{"-- demo", "-- demo"},
	}
	for _, c := range cases {
		in := strings.Split(c.in, " ")
		if got := strings.Join(Request(root, in), " "); got != c.want {
			t.Errorf("Request(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := unmark([]string{m + "--output", "x", m + "--"}); !slices.Equal(got, []string{"--output", "x", "--"}) {
		t.Errorf("unmark: %q", got)
	}
}
