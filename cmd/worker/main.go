// Command worker is the worker daemon of an AWS deployment: it runs the
// jobs of the lane run queues as ECS tasks. See "worker -h".
// "worker --version" prints the version stamped at build time.
package main

import (
	"os"

	"github.com/deployerhq/deployer/internal/gcstart"
)

// version is stamped by the image build (images/worker/Dockerfile):
// -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	gcstart.Release()
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}
