package factory

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// build is the build information of a deployer built by "make build".
func build() *debug.BuildInfo {
	return &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Path:      "github.com/deployerhq/deployer/cmd/deployer",
		Main:      debug.Module{Path: "github.com/deployerhq/deployer", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "-ldflags", Value: "-X github.com/deployerhq/deployer/internal/version.Stamp=v1.2.3"},
			{Key: "-tags", Value: "grpcnotrace"},
			{Key: "CGO_ENABLED", Value: "0"},
			{Key: "vcs.revision", Value: "0123456789abcdef"},
			{Key: "vcs.modified", Value: "false"},
		},
	}
}

func TestSameBuild(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(*debug.BuildInfo)
		want   string // in the error; "" for none
	}{
		{"the same build", func(*debug.BuildInfo) {}, ""},
		{"another main package", func(b *debug.BuildInfo) { b.Path = "github.com/deployerhq/deployer/cmd/worker" }, `main package is "github.com/deployerhq/deployer/cmd/worker"`},
		{"another Go", func(b *debug.BuildInfo) { b.GoVersion = "go1.26.7" }, "built with go1.26.7"},
		{"another module version", func(b *debug.BuildInfo) { b.Main.Version = "v1.2.2" }, "module github.com/deployerhq/deployer v1.2.2"},
		{"another revision", func(b *debug.BuildInfo) { b.Settings[3].Value = "fedcba9876543210" }, `vcs.revision is "fedcba9876543210"`},
		{"another version stamp", func(b *debug.BuildInfo) {
			b.Settings[0].Value = "-X github.com/deployerhq/deployer/internal/version.Stamp=v1.2.2"
		}, "-ldflags"},
		{"a setting deployer lacks", func(b *debug.BuildInfo) {
			b.Settings = append(b.Settings, debug.BuildSetting{Key: "-race", Value: "true"})
		}, "its -race is \"true\", this deployer has none"},
		{"a setting it lacks", func(b *debug.BuildInfo) { b.Settings = b.Settings[1:] }, `its -ldflags is ""`},
	} {
		t.Run(c.name, func(t *testing.T) {
			theirs := build()
			theirs.Path = supervisorPackage
			c.change(theirs)
			err := sameBuild(build(), theirs, supervisorPackage)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("sameBuild: %v, want nil", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("sameBuild: %v, want an error with %q", err, c.want)
			}
		})
	}
}

// TestSupervisorCommand: without a deployer-supervisor of this build
// beside it, deployer is its own tasks' supervisor, and says why. (Its
// own build beside it is taken: test/TestTaskSupervisors.)
func TestSupervisorCommand(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
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
