// Command deployer-task is the entrypoint of every task image:
// "deployer-task SCRIPT [ARGS...]" runs one script of the image's scripts
// directory with its secrets resolved, frames its output as task records
// on stdout and exits with the script's exit code (see internal/task).
package main

import (
	"context"
	"os"

	"github.com/deployerhq/deployer/internal/task"
)

func main() { os.Exit(task.Main(context.Background(), os.Args[1:])) }
