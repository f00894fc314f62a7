// Package companion finds the binaries a deployer binary runs beside it
// (deployer-supervisor, deployer-aws), and only when they are of its own
// build: the same module and Go versions and build settings, read from
// their build information, as "make build" or "go install" of one
// version makes them. Build information cannot tell two builds of one
// modified checkout apart: a companion left from an earlier one is taken
// as the same; "make build" rebuilds them all.
package companion

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// The companions, by binary name and main package.
const (
	// Supervisor is the embedded backend's task supervisor.
	Supervisor        = "deployer-supervisor"
	SupervisorPackage = "github.com/deployerhq/deployer/cmd/deployer-supervisor"
	// AWS is deployer with the AWS SDK: the aws backend's command lines,
	// and the helper that reads a local task's AWS secrets.
	AWS        = "deployer-aws"
	AWSPackage = "github.com/deployerhq/deployer/cmd/deployer-aws"
)

// Find returns the path of the binary name in exe's directory, a binary
// of this process's build whose main package is pkg, or why it cannot be
// used: not there (an fs.ErrNotExist), of another build (see SameBuild),
// or not executable by this user. Its errors name the file.
func Find(exe, name, pkg string) (string, error) {
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
	if err := SameBuild(mine, theirs, pkg); err != nil {
		return "", fmt.Errorf("%s is not of this build: %w", path, err)
	}
	if err := unix.Access(path, unix.X_OK); err != nil {
		return "", fmt.Errorf("%s is not executable by this user: %w", path, err)
	}
	return path, nil
}

// SameBuild returns why theirs, the build information of a binary whose
// main package should be pkg, is not of the same build as mine; nil when
// it is.
func SameBuild(mine, theirs *debug.BuildInfo, pkg string) error {
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
