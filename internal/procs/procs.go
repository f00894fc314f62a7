// Package procs runs the processes of deployer that follow one thing at
// a time on one P: Go code on one OS thread at a time (GOMAXPROCS 1).
//
// A task's supervisor and a command such as "deployer run" spend their
// lives waiting: on a pipe, on the state database, on the next wake-up.
// With more than one P, each goroutine made ready wakes an idle P's
// thread, which spins looking for work and sleeps again (futex calls,
// and on a virtual machine the inter-processor interrupts behind them),
// CPU taken from the task, the server and the other commands on the same
// machine. On the 2-core machine of docs/performance.md (eighteenth
// round), one P took 10–15% off the supervisors' CPU per run and ~25%
// off the run's own, and 4–12% off a served run's wall time. Servers
// ("deployer up", "deployer ui") keep the runtime's default: they serve
// many jobs at once.
//
// A GOMAXPROCS set in the environment is kept.
package procs

import (
	"os"
	"runtime"
)

// One has the process run Go code on one P, unless GOMAXPROCS is set in
// its environment. Called first thing in main: the runtime starts with
// its default, and the Ps beyond the first are idle until then.
func One() {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	runtime.GOMAXPROCS(1)
}
