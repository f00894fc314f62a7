// Command deployer is the caller's CLI: run allow-listed scripts, follow
// them, and serve the embedded pipeline. It leaves the AWS SDK,
// Prometheus, the OTLP span exporter and the web dashboard out, to start
// faster, and hands every command line that needs one (the aws backend,
// "up --metrics-addr", spans to export, "ui", "up --ui-addr") to
// deployer-aws, the same command line with them, next to it.
package main

import (
	"os"
	_ "time/tzdata" // schedules name IANA time zones; hosts may lack zoneinfo

	"github.com/deployerhq/deployer/internal/cli"
	"github.com/deployerhq/deployer/internal/gcstart"
)

func main() {
	gcstart.Release()
	os.Exit(cli.Main(os.Args[1:]))
}
