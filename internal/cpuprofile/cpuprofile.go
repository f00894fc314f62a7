// Package cpuprofile writes a deployer process's CPU profile where
// DEPLOYER_CPUPROFILE says, for finding where the time goes (see
// docs/performance.md).
package cpuprofile

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
)

// Env names a directory: every deployer process started with it set (the
// CLI, deployer up, the task supervisors) writes its CPU profile there,
// as <name>-<pid>.pprof.
const Env = "DEPLOYER_CPUPROFILE"

// Start starts the CPU profile of the process named name into the
// directory Env names, when it is set, and returns what stops it. A
// profile that cannot be started is reported on stderr; the process runs
// on without.
func Start(name string) (stop func()) {
	dir := os.Getenv(Env)
	if dir == "" {
		return func() {}
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%d.pprof", name, os.Getpid()))
	f, err := os.Create(path) //nolint:gosec // a path the user named for profiles
	if err != nil {
		fmt.Fprintf(os.Stderr, "deployer: %s: %v\n", Env, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "deployer: %s: %v\n", Env, err)
		_ = f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}
