// Package gcstart holds off the garbage collector of a deployer process
// that another one starts (the detached deployer up, a task supervisor)
// while its packages initialise.
//
// Go runs the init of every linked package before main. deployer's
// allocate about 9 MB (the AWS SDK's service schemas, the JSON schema
// library's meta-schemas), and at the default GOGC of 100 the collector
// runs twice during them, from a 4 MB heap: about a third of the time a
// deployer process takes to reach main. A process cannot change its own
// setting before its packages' init runs; only GOGC in its environment
// can. So a deployer process that starts another of its binary gives it
// GOGC=Init and a marker (Env), and the child returns to the default at
// the start of its main (Restore), before it starts anything of its own.
//
// A GOGC the user set is left alone, in both processes.
package gcstart

import (
	"os"
	"runtime/debug"
	"strings"
)

const (
	// Init is the GOGC a child's init runs with: a 16 MB first goal,
	// above what init allocates. Not "off": a child that never restores
	// (a build from before this package) still collects.
	Init = "400"
	// Marker says that GOGC was set by the parent, not the user: Restore
	// acts only on it.
	Marker = "DEPLOYER_GOGC_AT_INIT"
	// defaultPercent is Go's own default, which Restore returns to.
	defaultPercent = 100
)

// Env returns env (a process's environment, as os.Environ gives it) for
// a child of this binary: with GOGC=Init and Marker, unless env has a
// GOGC of its own, which the child keeps.
func Env(env []string) []string {
	out := make([]string, 0, len(env)+2)
	for _, kv := range env {
		switch {
		case strings.HasPrefix(kv, "GOGC="):
			return env
		case strings.HasPrefix(kv, Marker+"="):
			continue // a stale marker: replaced below
		}
		out = append(out, kv)
	}
	return append(out, "GOGC="+Init, Marker+"=1")
}

// Restore returns a child started with Env to Go's default GOGC and takes
// GOGC and Marker out of its environment, so that what it starts in turn
// (a script reading its environment, another child) sees the user's.
// It does nothing in a process started otherwise.
func Restore() {
	if os.Getenv(Marker) == "" {
		return
	}
	_ = os.Unsetenv("GOGC")
	_ = os.Unsetenv(Marker)
	debug.SetGCPercent(defaultPercent)
}
