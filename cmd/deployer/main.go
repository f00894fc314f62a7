// Command deployer is the caller's CLI: run allow-listed scripts, follow
// them, and serve the embedded pipeline.
package main

import (
	"os"
	_ "time/tzdata" // schedules name IANA time zones; hosts may lack zoneinfo

	"github.com/deployerhq/deployer/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
