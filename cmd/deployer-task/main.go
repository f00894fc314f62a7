// Command deployer-task is the entrypoint of every task image:
// "deployer-task SCRIPT [ARGS...]" runs one script of the image's scripts
// directory with its secrets resolved, frames its output as task records
// on stdout and exits with the script's exit code (see internal/task).
// "deployer-task --version" prints the version stamped at build time.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/deployerhq/deployer/internal/task"
)

// version is stamped by the image builds: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Println("deployer-task", version)
		return
	}
	os.Exit(task.Main(context.Background(), os.Args[1:]))
}
