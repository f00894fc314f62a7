package factory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSupervisorCommand: without a deployer-supervisor of this build
// beside it, deployer is its own tasks' supervisor, and says why. (Its
// own build beside it is taken: test/TestTaskSupervisors.)
func TestSupervisorCommand(t *testing.T) {
	self := thisTestBinary(t)
	for _, c := range []struct {
		name  string
		shim  []byte // nil: none
		mode  os.FileMode
		about string
	}{
		{"none", nil, 0, "deployer itself (no deployer-supervisor next to it)"},
		{"not a Go binary", []byte("#!/bin/sh\nexit 0\n"), 0o755, "deployer itself: could not read Go build info from DIR/deployer-supervisor: unrecognized file format"},
		{"another program", self, 0o755, "deployer itself: DIR/deployer-supervisor is not of this build: its main package is"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.shim != nil {
				if err := os.WriteFile(filepath.Join(dir, SupervisorBinary), c.shim, c.mode); err != nil {
					t.Fatal(err)
				}
			}
			bin := filepath.Join(dir, "deployer")
			cmd, about := SupervisorCommand(bin)
			if len(cmd) != 2 || cmd[0] != bin || cmd[1] != SuperviseCommand {
				t.Errorf("command %q, want %q", cmd, []string{bin, SuperviseCommand})
			}
			if want := strings.ReplaceAll(c.about, "DIR", dir); !strings.HasPrefix(about, want) {
				t.Errorf("about %q, want it to begin %q", about, want)
			}
		})
	}
}
