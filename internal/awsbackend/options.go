package awsbackend

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/deployerhq/deployer/internal/awsx"
)

// Options locate and tune an AWS deployment. Every field has an
// environment variable (see FromEnv); flags override them.
type Options struct {
	// Region is the AWS region. Defaults to the SDK's resolution
	// (AWS_REGION, the profile). $DEPLOYER_AWS_REGION.
	Region string
	// Prefix starts the name of every queue, the lease table and the log
	// groups. Defaults to "deployer-". $DEPLOYER_PREFIX.
	Prefix string
	// Cluster is the ECS cluster tasks run on. Defaults to Prefix+"tasks".
	// $DEPLOYER_ECS_CLUSTER.
	Cluster string
	// ContainerName is the container of the task definitions whose command
	// is overridden with the job's argv. Defaults to "deployer".
	// $DEPLOYER_ECS_CONTAINER.
	ContainerName string
	// LaunchType is the default ECS launch type. Defaults to "FARGATE".
	// $DEPLOYER_ECS_LAUNCH_TYPE.
	LaunchType string
	// Subnets and SecurityGroups place awsvpc tasks. Comma-separated in
	// $DEPLOYER_ECS_SUBNETS and $DEPLOYER_ECS_SECURITY_GROUPS.
	Subnets        []string
	SecurityGroups []string
	// AssignPublicIP gives awsvpc tasks a public IP. $DEPLOYER_ECS_PUBLIC_IP.
	AssignPublicIP bool
	// TaskLogGroup is the log group of the tasks' awslogs driver. Defaults
	// to "/" + Prefix + "tasks". $DEPLOYER_TASK_LOG_GROUP.
	TaskLogGroup string
	// TaskStreamPrefix is the awslogs-stream-prefix of the task
	// definitions. Defaults to "deployer". $DEPLOYER_TASK_STREAM_PREFIX.
	TaskStreamPrefix string
	// JournalLogGroup holds one log stream per job. Defaults to
	// "/" + Prefix + "jobs". $DEPLOYER_JOURNAL_LOG_GROUP.
	JournalLogGroup string
	// LeaseTable is the DynamoDB table of lane leases. Defaults to
	// Prefix + "leases". $DEPLOYER_LEASE_TABLE.
	LeaseTable string
	// Principals maps the unique ids SQS reports as a message's SenderId
	// (AIDA… for IAM users, AROA… for roles) to principal ARNs, so the
	// gatekeeper can check callers against allowed_callers. JSON object
	// in $DEPLOYER_PRINCIPALS (Terraform fills it from the roles'
	// unique_id).
	Principals map[string]string
	// Endpoint, when set, sends every AWS call to this URL instead of
	// AWS's (an emulator), overriding AWS_ENDPOINT_URL and the
	// per-service variables. No environment variable: those are the
	// SDK's.
	Endpoint string
	// HTTPClient replaces the SDK's HTTP client (tests, call counting).
	HTTPClient *http.Client
	// Credentials, when set, replaces the default credential chain (tests
	// against emulators).
	Credentials *awsx.Credentials
	// Retry bounds the retries of every AWS call; zero values take
	// awsx.DefaultRetry's.
	Retry  awsx.RetryPolicy
	Logger *slog.Logger
}

// FromEnv reads Options from the environment (getenv is os.Getenv in
// production). Malformed values are errors, never ignored.
func FromEnv(getenv func(string) string) (Options, error) {
	o := Options{
		Region:           getenv("DEPLOYER_AWS_REGION"),
		Prefix:           getenv("DEPLOYER_PREFIX"),
		Cluster:          getenv("DEPLOYER_ECS_CLUSTER"),
		ContainerName:    getenv("DEPLOYER_ECS_CONTAINER"),
		LaunchType:       getenv("DEPLOYER_ECS_LAUNCH_TYPE"),
		Subnets:          SplitList(getenv("DEPLOYER_ECS_SUBNETS")),
		SecurityGroups:   SplitList(getenv("DEPLOYER_ECS_SECURITY_GROUPS")),
		TaskLogGroup:     getenv("DEPLOYER_TASK_LOG_GROUP"),
		TaskStreamPrefix: getenv("DEPLOYER_TASK_STREAM_PREFIX"),
		JournalLogGroup:  getenv("DEPLOYER_JOURNAL_LOG_GROUP"),
		LeaseTable:       getenv("DEPLOYER_LEASE_TABLE"),
	}
	var errs []error
	if v := getenv("DEPLOYER_ECS_PUBLIC_IP"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("DEPLOYER_ECS_PUBLIC_IP=%q: want true or false", v))
		}
		o.AssignPublicIP = b
	}
	if v := getenv("DEPLOYER_PRINCIPALS"); v != "" {
		if err := json.Unmarshal([]byte(v), &o.Principals); err != nil {
			errs = append(errs, fmt.Errorf("DEPLOYER_PRINCIPALS: want a JSON object of unique id to principal ARN: %w", err))
		}
	}
	return o, errors.Join(errs...)
}

// SplitList splits a comma-separated list of the environment or of a flag
// (subnets, security groups), trimming spaces and dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// WithDefaults returns o with the defaults documented on Options filled
// in: the names every component derives from the prefix.
func (o Options) WithDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = "deployer-"
	}
	if o.Cluster == "" {
		o.Cluster = o.Prefix + "tasks"
	}
	if o.ContainerName == "" {
		o.ContainerName = "deployer"
	}
	if o.LaunchType == "" {
		o.LaunchType = "FARGATE"
	}
	if o.TaskLogGroup == "" {
		o.TaskLogGroup = "/" + o.Prefix + "tasks"
	}
	if o.TaskStreamPrefix == "" {
		o.TaskStreamPrefix = "deployer"
	}
	if o.JournalLogGroup == "" {
		o.JournalLogGroup = "/" + o.Prefix + "jobs"
	}
	if o.LeaseTable == "" {
		o.LeaseTable = o.Prefix + "leases"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Validate reports every problem of the options at once.
func (o Options) Validate() error {
	var errs []error
	if strings.ContainsFunc(o.Prefix, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' && r != '_'
	}) || len(o.Prefix) > 40 {
		errs = append(errs, fmt.Errorf("prefix %q: at most 40 letters, digits, hyphens and underscores", o.Prefix))
	}
	switch o.LaunchType {
	case "", "FARGATE", "EC2", "EXTERNAL":
	default:
		errs = append(errs, fmt.Errorf("launch type %q: want FARGATE, EC2 or EXTERNAL", o.LaunchType))
	}
	for id, arn := range o.Principals {
		if id == "" || !strings.HasPrefix(arn, "arn:") {
			errs = append(errs, fmt.Errorf("principal %q → %q: want a unique id mapped to an ARN", id, arn))
		}
	}
	return errors.Join(errs...)
}
