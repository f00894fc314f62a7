package awsclient_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/client/awsclient"
)

// Open opens a deployment made by the Terraform module; credentials
// come from the SDK's default chain. (Not run: it needs AWS.)
func ExampleOpen() {
	ctx := context.Background()
	c, err := awsclient.Open(ctx, client.AWSOptions{Region: "eu-west-1", Prefix: "deployer-"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	jobs, err := c.Jobs(ctx, client.JobFilter{States: []client.JobState{client.StateRunning}})
	if err != nil {
		log.Fatal(err)
	}
	for _, j := range jobs {
		fmt.Println(j.JobID, j.Container, j.Script, j.State)
	}
}

// A program that serves the embedded backend, and whose tasks' secrets
// are in Secrets Manager or SSM, runs its tasks as itself re-executed
// with the AWS SDK: it calls awsclient.RunTaskProcess, not
// client.RunTaskProcess, before anything else.
func ExampleRunTaskProcess() {
	if code, ok := awsclient.RunTaskProcess(context.Background(), os.Args[1:]); ok {
		os.Exit(code)
	}
	// The program's own work: open a client, serve, submit, follow...
}
