// Command deployer-supervisor is the embedded backend's task supervisor:
// one process per task, which claims the task, runs its script, stores
// its output in the state directory's task log, and records its end (see
// local.Supervise). deployer up starts it when it lies next to deployer's
// binary and is the same build; otherwise up runs deployer itself as the
// supervisor, to the same effect (see factory.SupervisorCommand).
//
// It is a binary of its own because it starts once per task, and links
// only what a task needs: no Prometheus, no OpenTelemetry exporter, and
// no AWS SDK client. A task's Secrets Manager and SSM references are
// read by deployer-aws beside it, started for the tasks that name one
// (package secretproc). docs/performance.md has the figures.
package main

import (
	"context"
	"os"

	"github.com/deployerhq/deployer/internal/cpuprofile"
	"github.com/deployerhq/deployer/internal/gcstart"
	"github.com/deployerhq/deployer/internal/procs"
	"github.com/deployerhq/deployer/internal/runner/local"
	"github.com/deployerhq/deployer/internal/task/secret/secretproc"
	"github.com/deployerhq/deployer/internal/version"
)

func main() {
	gcstart.Release()
	procs.One()
	os.Exit(run())
}

func run() int {
	defer cpuprofile.Start("supervise")()
	return local.Supervise(context.Background(), os.Args[1:], version.String(), secretproc.BesideExecutable())
}
