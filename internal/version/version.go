// Package version is the version deployer's binaries report: deployer,
// infrastructure-deployer and deployer-supervisor, which a canary's
// version probe names when the local runner runs it.
package version

import "runtime/debug"

// Stamp is set at build time with -ldflags "-X
// github.com/deployerhq/deployer/internal/version.Stamp=v1.2.3" ("make
// build" stamps git describe). Unstamped, the version is what Go recorded
// in the binary (see Of), or "dev".
var Stamp = "dev"

// String is this binary's version (see Of).
func String() string { return Of(debug.ReadBuildInfo()) }

// Of is the version of a binary with build information info (ok: it has
// some): Stamp, or, when not stamped, the module version of a "go
// install" build, or the VCS revision it was built from ("a1b2c3d4e5f6",
// "-dirty" when modified).
func Of(info *debug.BuildInfo, ok bool) string {
	if Stamp != "dev" || !ok {
		return Stamp
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev == "" {
		return Stamp
	}
	return rev[:min(12, len(rev))] + dirty
}
