package batch

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/test/ghrunner"
)

// TestBatchOnGitHubActions: a batch's state lines and summary quote keys
// and reasons, which are others' text: read as the runner reads them,
// only deployer's error annotation acts, and the step summary gets a
// table of the batch's jobs.
func TestBatchOnGitHubActions(t *testing.T) {
	summary := filepath.Join(t.TempDir(), "summary.md")
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary}
	var out, errOut bytes.Buffer
	f := &factory.Factory{IO: factory.IOStreams{Out: &out, ErrOut: &errOut}, Getenv: func(k string) string { return env[k] }}
	v := newView(f, "text")
	if v.live || v.json {
		t.Fatalf("view live %t, json %t on GitHub Actions", v.live, v.json)
	}
	t0 := time.Now()
	three := 3
	b := producer.Batch{ID: "batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D3E", Name: "amis ##[add-mask]n", Since: t0, Jobs: []producer.BatchJob{
		{Index: 1, Key: "ok", JobSummary: producer.JobSummary{JobID: "01JD3Q8Z5W6X7Y8Z9A0B1C2D3F", State: producer.JobState(schemas.OutcomeSucceeded),
			Container: "ami", Script: "build", Started: t0, Ended: t0.Add(time.Minute)},
			Terminal: &schemas.JobEvent{Type: schemas.EventFinished, Outcome: schemas.OutcomeSucceeded, ExitCode: new(int), Time: t0}},
		{Index: 2, Key: "##[set-output name=ok;]true", JobSummary: producer.JobSummary{JobID: "01JD3Q8Z5W6X7Y8Z9A0B1C2D3G", State: producer.JobState(schemas.OutcomeFailed),
			Container: "ami", Script: "build", Argv: []string{"|x|"}, Started: t0, Ended: t0.Add(2 * time.Second), Reason: "::add-mask::y ##[add-mask]z"},
			Terminal: &schemas.JobEvent{Type: schemas.EventFinished, Outcome: schemas.OutcomeFailed, ExitCode: &three, Time: t0}},
	}}
	v.update(b, nil, t0)
	v.summary(b)

	r := ghrunner.New()
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		r.Line(line)
	}
	if len(r.Outputs)+len(r.Masks)+len(r.Env) > 0 || len(r.Annotations) != 1 || r.Annotations[0].Level != "error" ||
		!strings.HasPrefix(r.Annotations[0].Properties["title"], "deployer: batch amis") {
		t.Errorf("the runner did %+v; want deployer's error annotation only\nstdout:\n%s", r, out.String())
	}
	for _, line := range strings.Split(errOut.String(), "\n") {
		if c, ok := ghrunner.Parse(line, ""); ok {
			t.Errorf("stderr line %q is the command %+v", line, c)
		}
	}
	got, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| # | Job | Request | Duration | Outcome | Exit code | Re-attach |",
		"| 1 ok | `01JD3Q8Z5W6X7Y8Z9A0B1C2D3F` | ami build | 1m0s | ✅ succeeded | 0 | `deployer wait 01JD3Q8Z5W6X7Y8Z9A0B1C2D3F` |",
		"| 2 \\#\\#\\[set\\-output name\\=ok\\;\\]true | `01JD3Q8Z5W6X7Y8Z9A0B1C2D3G` | ami build \\'\\|x\\|\\' | 2s | ❌ failed | 3 |",
		"Batch `batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D3E`: re-attach with `deployer batch wait batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D3E`.",
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("step summary lacks %q:\n%s", want, got)
		}
	}
}

func TestBatchViewIsLiveOnlyOnATerminalThatTakesEscapes(t *testing.T) {
	f := &factory.Factory{IO: factory.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, Getenv: func(string) string { return "" }}
	for _, output := range []string{"text", "plain", "json", "github"} {
		if v := newView(f, output); v.live {
			t.Errorf("--output %s off a terminal: live table", output)
		}
	}
}
