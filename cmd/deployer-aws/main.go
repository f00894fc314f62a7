// Command deployer-aws is deployer with the AWS SDK, Prometheus, the
// OTLP span exporter and the web dashboard linked: the same command
// line, and the one that serves the aws backend. deployer hands it every
// command line that needs one of them (a --region, --backend aws,
// rollback, "up --metrics-addr", OTEL_EXPORTER_OTLP_ENDPOINT set, "ui",
// "up --ui-addr"), so users run
// deployer either way; it must be installed next to deployer, from the
// same build ("make build" puts both in bin/).
package main

import (
	"os"
	_ "time/tzdata" // schedules name IANA time zones; hosts may lack zoneinfo

	"github.com/deployerhq/deployer/internal/cli"
	"github.com/deployerhq/deployer/internal/cli/awscli"
	"github.com/deployerhq/deployer/internal/cli/extras"
	"github.com/deployerhq/deployer/internal/gcstart"
)

func main() {
	gcstart.Release()
	os.Exit(cli.MainAs(cli.Deployer, os.Args[1:], awscli.AWS{}, extras.Extras{}))
}
