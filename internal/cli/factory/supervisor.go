package factory

import (
	"errors"
	"io/fs"

	"github.com/deployerhq/deployer/internal/companion"
)

// SupervisorBinary is the embedded backend's task supervisor as a binary
// of its own (cmd/deployer-supervisor). The local runner starts one
// supervisor per task; a deployer process pays for every package
// deployer links (Prometheus, OpenTelemetry, the commands) before it
// does anything, this one only for what a task needs:
// docs/performance.md has the figures.
const SupervisorBinary = companion.Supervisor

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
	path, err := companion.Find(exe, SupervisorBinary, companion.SupervisorPackage)
	if errors.Is(err, fs.ErrNotExist) {
		return self, "deployer itself (no " + SupervisorBinary + " next to it)"
	}
	if err != nil {
		return self, "deployer itself: " + err.Error()
	}
	return []string{path}, path
}
