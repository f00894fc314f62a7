// Command deployer-task is the entrypoint of every task image:
// "deployer-task SCRIPT [ARGS...]" runs one script of the image's scripts
// directory with its secrets resolved, frames its output as task records
// on stdout and exits with the script's exit code (see internal/task).
// "deployer-task --version" prints the version stamped at build time
// ("deployer-task v1.2.3"): the command of every canary's task, framed as
// the task's log when the task has a job id (see task.PrintVersion).
package main

import (
	"context"
	"os"

	"github.com/deployerhq/deployer/internal/gcstart"
	"github.com/deployerhq/deployer/internal/task"
	"github.com/deployerhq/deployer/internal/task/secret"
	"github.com/deployerhq/deployer/internal/task/secret/awssecret"
)

// version is stamped by the image builds: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	gcstart.Release()
	os.Exit(task.Main(context.Background(), os.Args[1:], version, &secret.Resolver{AWS: &awssecret.Fetcher{}}))
}
