// Command deployer-supervisor is the embedded backend's task supervisor:
// one process per task, which claims the task, runs its script, stores
// its output in the state directory's task log, and records its end (see
// local.Supervise). deployer up starts it when it lies next to deployer's
// binary and is the same build; otherwise up runs deployer itself as the
// supervisor, to the same effect (see factory.SupervisorCommand).
//
// It is a binary of its own because it starts once per task: a deployer
// process spends ~17 ms and ~38 MiB on its packages (the AWS SDK's
// clients, Prometheus, OpenTelemetry) before doing anything,
// this one ~4 ms and ~14 MiB, and its collections mark a heap that much
// smaller.
package main

import (
	"context"
	"os"

	"github.com/deployerhq/deployer/internal/cpuprofile"
	"github.com/deployerhq/deployer/internal/gcstart"
	"github.com/deployerhq/deployer/internal/runner/local"
	"github.com/deployerhq/deployer/internal/task/secret"
	"github.com/deployerhq/deployer/internal/task/secret/awssecret"
	"github.com/deployerhq/deployer/internal/version"
)

func main() {
	gcstart.Release()
	os.Exit(run())
}

func run() int {
	defer cpuprofile.Start("supervise")()
	return local.Supervise(context.Background(), os.Args[1:], version.String(), &secret.Resolver{AWS: &awssecret.Fetcher{}})
}
