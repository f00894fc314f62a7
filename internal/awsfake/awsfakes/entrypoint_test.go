package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Output becomes log events as the awslogs driver cuts it: one per line,
// a line over 16 KiB in 16 KiB pieces, no empty event.
func TestAWSLogsEventsSplitAt16KiB(t *testing.T) {
	long := strings.Repeat("a", awslogsEventBytes) + strings.Repeat("b", awslogsEventBytes) + "c"
	exact := strings.Repeat("d", awslogsEventBytes-1)
	out := "one\n\n" + long + "\n" + exact + "\nlast without newline"
	got, err := awslogsEvents(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"one", strings.Repeat("a", awslogsEventBytes), strings.Repeat("b", awslogsEventBytes), "c", exact, "last without newline"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %d events, want %d: %.40q", len(got), len(want), got)
	}
}

// With an entrypoint, a task runs "ENTRYPOINT SCRIPT ARGS..." with the
// scripts directory and the override's environment, its exit code kept.
func TestEntrypointRunsTheCommandWithTheTasksEnvironment(t *testing.T) {
	dir := t.TempDir()
	entry := filepath.Join(dir, "entry")
	body := "#!/bin/sh\necho \"args $*\"\necho \"dir $DEPLOYER_SCRIPTS_DIR job $DEPLOYER_JOB_ID\"\necho oops >&2\nexit 3\n"
	if err := os.WriteFile(entry, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	r := taskRunner{scripts: "/scripts", entrypoint: entry}
	p := r.run([]string{"plan", "a b"}, map[string]string{"DEPLOYER_JOB_ID": "J1"})
	want := []string{"args plan a b", "dir /scripts job J1", "oops"}
	if p.FailToStart != "" || p.ExitCode != 3 || !slices.Equal(p.Lines, want) || p.Hold != nil {
		t.Fatalf("plan %+v, want lines %q and exit code 3", p, want)
	}
	if p := (taskRunner{entrypoint: filepath.Join(dir, "missing")}).run([]string{"x"}, nil); !strings.HasPrefix(p.FailToStart, "CannotStartContainerError") {
		t.Fatalf("a missing entrypoint: %+v", p)
	}
}

// -task-release-dir holds a task until its job's release file exists.
func TestReleaseDirHoldsATaskUntilItsJobIsReleased(t *testing.T) {
	dir := t.TempDir()
	scripts := t.TempDir()
	if err := os.WriteFile(filepath.Join(scripts, "s"), []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := taskRunner{scripts: scripts, release: dir}.run([]string{"s"}, map[string]string{"DEPLOYER_JOB_ID": "J2"})
	if p.Hold == nil || !p.Hold() {
		t.Fatalf("plan %+v: not held before the release", p)
	}
	if err := os.WriteFile(filepath.Join(dir, "J2"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if p.Hold() {
		t.Fatal("still held after the release")
	}
}
