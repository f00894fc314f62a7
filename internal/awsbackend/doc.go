// Package awsbackend assembles the AWS adapters of every port into one
// backend: queues and job streams on SQS, tasks on ECS, task logs and job
// journals on CloudWatch Logs, lane leases on DynamoDB. The gatekeeper
// and logshipper Lambdas, the worker daemon and the CLI's --backend aws
// all open it the same way, from Options (flags) or the environment.
//
// Every name is prefixed (Options.Prefix, "deployer-" by default), so a
// caller needs only the region and the prefix to find a deployment. The
// SDK honours AWS_ENDPOINT_URL and the per-service endpoint variables
// (AWS_ENDPOINT_URL_SQS, ...), so the same code runs against emulators.
package awsbackend
