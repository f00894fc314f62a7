// Command gatekeeper is the gatekeeper Lambda (provided.al2023, built with
// -tags lambda.norpc as "bootstrap"): it validates each job request of the
// request queue against the allow-list and forwards run orders.
package main

import (
	"context"
	"os"
	_ "time/tzdata" // schedules name IANA time zones; hosts may lack zoneinfo

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/deployerhq/deployer/internal/gcstart"
)

func main() {
	gcstart.Release()
	os.Exit(run(context.Background(), os.Getenv, os.Stdout, os.Stderr, lambda.Start))
}
