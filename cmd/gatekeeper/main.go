// Command gatekeeper is the gatekeeper Lambda (provided.al2023, built with
// -tags lambda.norpc as "bootstrap"): it validates each job request of the
// request queue against the allow-list and forwards run orders.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/deployerhq/deployer/internal/awsbackend"
)

func main() {
	h, err := awsbackend.GatekeeperHandler(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gatekeeper: init: %v\n", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
