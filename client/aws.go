package client

import (
	"log/slog"
	"net/http"
)

// AWSOptions locate an AWS deployment of deployer (the Terraform module's,
// or one "deployer up --backend aws --provision" made), for
// awsclient.Open (package client/awsclient). Credentials come
// from the AWS SDK's default chain (environment, shared config and
// profiles, SSO, web identity, container and instance roles); the
// gatekeeper checks the principal they belong to against the
// configuration's allowed_callers.
type AWSOptions struct {
	// Region is the deployment's AWS region. Defaults to the SDK's
	// resolution (AWS_REGION, the profile's region).
	Region string
	// Prefix starts the name of every queue, log group and table of the
	// deployment (the module's name_prefix). Defaults to "deployer-".
	Prefix string
	// Endpoint, when set, sends every AWS call to this URL instead of
	// AWS's: an emulator such as LocalStack or moto. Without it the SDK
	// honours AWS_ENDPOINT_URL and the per-service variables
	// (AWS_ENDPOINT_URL_SQS, ...).
	Endpoint string
	// The names below are those the Terraform module derives from the
	// prefix; set them only for a deployment that changed them.
	//
	// JournalLogGroup holds one log stream per job. Defaults to
	// "/" + Prefix + "jobs".
	JournalLogGroup string
	// TaskLogGroup holds the tasks' output. Defaults to
	// "/" + Prefix + "tasks".
	TaskLogGroup string
	// TaskStreamPrefix is the task definitions' awslogs-stream-prefix.
	// Defaults to "deployer".
	TaskStreamPrefix string
	// ContainerName is the task definitions' container that runs the
	// script. Defaults to "deployer".
	ContainerName string
	// LeaseTable is the DynamoDB table of lane leases, which WaitReason
	// counts. Defaults to Prefix + "leases".
	LeaseTable string
	// HTTPClient replaces the SDK's HTTP client (a proxy, a transport of
	// your own). Defaults to the SDK's.
	HTTPClient *http.Client
	// Logger receives the adapters' diagnostics. Defaults to discarding
	// them.
	Logger *slog.Logger
}
