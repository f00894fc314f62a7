// Command infrastructure-deployer is deployer speaking the ECS deploy
// runner's command line, so that CI scripts written for it work
// verbatim: "infrastructure-deployer --aws-region R [--max-wait-time D]
// [--task-cpu N] [--task-memory N] -- CONTAINER SCRIPT [ARGS...]" and
// "--describe-containers", on the AWS backend.
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
	os.Exit(cli.MainAs(cli.InfrastructureDeployer, os.Args[1:], awscli.AWS{}, extras.Extras{}))
}
