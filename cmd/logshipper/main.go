// Command logshipper is the logshipper Lambda (provided.al2023, built with
// -tags lambda.norpc as "bootstrap"): it ships task log lines from a
// CloudWatch Logs subscription to the owning job's stream.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/deployerhq/deployer/internal/gcstart"
)

func main() {
	gcstart.Release()
	os.Exit(run(context.Background(), os.Getenv, os.Stderr, lambda.Start))
}
