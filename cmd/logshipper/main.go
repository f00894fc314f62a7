// Command logshipper is the logshipper Lambda (provided.al2023, built with
// -tags lambda.norpc as "bootstrap"): it ships task log lines from a
// CloudWatch Logs subscription to the owning job's stream.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/deployerhq/deployer/internal/awsbackend"
)

func main() {
	h, err := awsbackend.LogshipperHandler(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "logshipper: init: %v\n", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
