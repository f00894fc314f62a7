package factory

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// SupervisorBinary is the embedded backend's task supervisor as a binary
// of its own (cmd/deployer-supervisor). The local runner starts one
// supervisor per task; a deployer process pays for every package
// deployer links (the AWS SDK's clients, Prometheus, OpenTelemetry)
// before it does anything, this one only for what a task needs:
// docs/performance.md has the figures.
const SupervisorBinary = "deployer-supervisor"

// supervisorPackage is SupervisorBinary's main package, as its build
// information names it.
const supervisorPackage = "github.com/deployerhq/deployer/cmd/deployer-supervisor"

// SupervisorCommand returns the command the local runner starts task
// supervisors with, for deployer's own binary exe: SupervisorBinary in
// exe's directory when it is the same build as this process and this
// user may run it, else exe's hidden SuperviseCommand, which runs the
// same code. about says which, and why not the first, for deployer up to
// report.
//
// The same build is the same module version and Go version and the same
// build settings (VCS revision and state, flags, tags, platform), as "make
// build" or "go install" of one version makes them. Build information
// cannot tell two builds of one modified checkout apart: a
// deployer-supervisor left from an earlier one is taken as the same;
// "make build" rebuilds both.
func SupervisorCommand(exe string) (cmd []string, about string) {
	self := []string{exe, SuperviseCommand}
	path, err := companion(exe, SupervisorBinary, supervisorPackage)
	if errors.Is(err, fs.ErrNotExist) {
		return self, "deployer itself (no " + SupervisorBinary + " next to it)"
	}
	if err != nil {
		return self, "deployer itself: " + err.Error()
	}
	return []string{path}, path
}

// companion returns the path of the binary name in exe's directory, a
// binary of this process's build whose main package is pkg, or why it
// cannot be used: not there (an fs.ErrNotExist), of another build (see
// sameBuild), or not executable by this user. Its errors name the file.
func companion(exe, name, pkg string) (string, error) {
	path := filepath.Join(filepath.Dir(exe), name)
	mine, ok := debug.ReadBuildInfo()
	if !ok {
		return "", errors.New("this binary has no build information to match " + path + " against")
	}
	theirs, err := buildinfo.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no %s next to it: %w", path, err)
	}
	if err != nil {
		return "", err // it names the file
	}
	if err := sameBuild(mine, theirs, pkg); err != nil {
		return "", fmt.Errorf("%s is not of this build: %w", path, err)
	}
	if err := unix.Access(path, unix.X_OK); err != nil {
		return "", fmt.Errorf("%s is not executable by this user: %w", path, err)
	}
	return path, nil
}

// sameBuild returns why theirs, the build information of a binary whose
// main package should be pkg, is not of the same build as mine; nil when
// it is.
func sameBuild(mine, theirs *debug.BuildInfo, pkg string) error {
	if theirs.Path != pkg {
		return fmt.Errorf("its main package is %q, not %s", theirs.Path, pkg)
	}
	if theirs.GoVersion != mine.GoVersion {
		return fmt.Errorf("built with %s, this deployer with %s", theirs.GoVersion, mine.GoVersion)
	}
	if theirs.Main.Path != mine.Main.Path || theirs.Main.Version != mine.Main.Version || theirs.Main.Sum != mine.Main.Sum {
		return fmt.Errorf("module %s %s, this deployer's %s %s", theirs.Main.Path, theirs.Main.Version, mine.Main.Path, mine.Main.Version)
	}
	settings := func(info *debug.BuildInfo) map[string]string {
		m := make(map[string]string, len(info.Settings))
		for _, s := range info.Settings {
			m[s.Key] = s.Value
		}
		return m
	}
	m, t := settings(mine), settings(theirs)
	for _, s := range mine.Settings {
		if v, ok := t[s.Key]; !ok || v != s.Value {
			return fmt.Errorf("its %s is %q, this deployer's %q", s.Key, v, s.Value)
		}
	}
	for _, s := range theirs.Settings {
		if _, ok := m[s.Key]; !ok {
			return fmt.Errorf("its %s is %q, this deployer has none", s.Key, s.Value)
		}
	}
	return nil
}
