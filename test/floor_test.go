package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestFloorMeasures: test/floor serves a script's runs through its client,
// server and supervisor, alternating with direct exec and a command of
// the caller's, with the supervisor taken back and with one started per
// request, and prints each one's median and ratio; a script that fails
// fails it, saying which. The scripts' directory has a space in its name.
func TestFloorMeasures(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a dir")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	noop, fails := filepath.Join(dir, "noop"), filepath.Join(dir, "fails")
	for path, body := range map[string]string{noop: "#!/bin/sh\nexit 0\n", fails: "#!/bin/sh\nexit 3\n"} {
		if err := os.WriteFile(path, []byte(body), 0o755); err != nil { //nolint:gosec // a test script
			t.Fatal(err)
		}
	}
	line := func(name string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^` + name + ` +median +[0-9.]+ ms +[0-9.]+x +\(3 runs\)$`)
	}
	for _, args := range [][]string{{"-runs", "3", noop, "--", "true"}, {"-runs", "3", "-respawn", noop}} {
		out, err := exec.Command(floorBin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("floor %q: %v\n%s", args, err, out)
		}
		names := []string{"direct exec", "floor"}
		if args[len(args)-1] == "true" {
			names = append(names, "command")
		}
		for _, name := range names {
			if !line(name).Match(out) {
				t.Errorf("floor %q printed no median for %s:\n%s", args, name, out)
			}
		}
	}
	out, err := exec.Command(floorBin, "-runs", "3", fails).CombinedOutput()
	if err == nil || !regexp.MustCompile(`floor: .*fails: exit status 3`).Match(out) {
		t.Errorf("floor of a failing script: %v\n%s", err, out)
	}
}
