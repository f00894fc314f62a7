package iamcheck

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/internal/stream/sqsstream"
	"github.com/deployerhq/deployer/internal/topology"
)

// Principal is one of the identities of a deployment.
type Principal string

// The principals. Each of the deployment's runs under its own IAM role
// (terraform/modules/deployer/iam.tf); the caller is whoever runs the CLI.
const (
	Gatekeeper Principal = "gatekeeper"
	Worker     Principal = "worker"
	Logshipper Principal = "logshipper"
	Caller     Principal = "caller"
)

// Principals lists every principal, in the order findings come in.
func Principals() []Principal { return []Principal{Gatekeeper, Worker, Logshipper, Caller} }

// Right is one permission a principal needs: an action on a resource
// (an ARN, or an ARN pattern for a family of resources such as the job
// streams), with the condition keys the component's requests carry.
type Right struct {
	Principal Principal
	Action    string
	Resource  string
	// Context holds the request's condition keys (ecs:cluster of RunTask,
	// iam:PassedToService of PassRole).
	Context map[string]string
	// Why says which call of which component needs it.
	Why string
	// Optional rights serve one command only (Why says which): without
	// them the rest works.
	Optional bool
	// Operator rights are the dead-letter commands' (dlq list, show,
	// replay, purge): for people, not CI. Checked only when asked.
	Operator bool
}

// Request is the request a component makes with the right.
func (r Right) Request() Request {
	return Request{Action: r.Action, Resource: r.Resource, Context: r.Context}
}

// Deployment names what the rights are on: the deployment's account,
// region and resource names.
type Deployment struct {
	// Options name the deployment's resources as its components find
	// them (the prefix, the cluster, the log groups, the lease table),
	// with awsbackend's defaults for the fields left empty.
	Options awsbackend.Options
	// Region is the deployment's region. Defaults to Options.Region.
	Region string
	// Account is the deployment's AWS account id. Required (the
	// Checker reads it with sts:GetCallerIdentity when it is empty).
	Account string
	// Partition is the AWS partition. Defaults to the Region's ("aws-cn"
	// in cn-*, "aws-us-gov" in us-gov-*, else "aws").
	Partition string
	// GatekeeperFunction and LogshipperFunction are the Lambda
	// functions, whose roles write their own logs to /aws/lambda/NAME.
	// Default to Options.Prefix + "gatekeeper" and + "logshipper", the
	// Terraform module's names.
	GatekeeperFunction, LogshipperFunction string
	// TaskDefinitions are the families the worker starts tasks of (the
	// allow-list's task definitions). Empty means any: the worker then
	// needs ecs:RunTask on task-definition/*, as the module grants.
	TaskDefinitions []string
	// PassRoles are the ARNs of the roles the worker passes to ECS when
	// it starts a task: the task definitions' execution and task roles.
	// Defaults to the module's execution role, Options.Prefix +
	// "task-execution" in Account.
	PassRoles []string
}

// WithDefaults returns d with the defaults documented on Deployment.
func (d Deployment) WithDefaults() Deployment {
	d.Options = d.Options.WithDefaults()
	if d.Region == "" {
		d.Region = d.Options.Region
	}
	if d.Partition == "" {
		d.Partition = PartitionOf(d.Region)
	}
	if d.GatekeeperFunction == "" {
		d.GatekeeperFunction = d.Options.Prefix + "gatekeeper"
	}
	if d.LogshipperFunction == "" {
		d.LogshipperFunction = d.Options.Prefix + "logshipper"
	}
	if len(d.PassRoles) == 0 {
		d.PassRoles = []string{fmt.Sprintf("arn:%s:iam::%s:role/%stask-execution", d.Partition, d.Account, d.Options.Prefix)}
	}
	return d
}

// PartitionOf returns the partition of a region.
func PartitionOf(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	default:
		return "aws"
	}
}

// accountID is compiled when first used, not at start-up.
var accountID = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]{12}$`) })

// Validate reports every problem of d (after defaults) at once.
func (d Deployment) Validate() error {
	d = d.WithDefaults()
	var errs []error
	if d.Region == "" {
		errs = append(errs, errors.New("deployment: no region: set --region or DEPLOYER_AWS_REGION"))
	}
	if !accountID().MatchString(d.Account) {
		errs = append(errs, fmt.Errorf("deployment: account %q: want the 12-digit AWS account id", d.Account))
	}
	if err := d.Options.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, f := range d.TaskDefinitions {
		if f == "" || strings.ContainsAny(f, ":/") {
			errs = append(errs, fmt.Errorf("deployment: task definition family %q: want a family name, without revision", f))
		}
	}
	for _, r := range d.PassRoles {
		if !strings.HasPrefix(r, "arn:") || !strings.Contains(r, ":role/") {
			errs = append(errs, fmt.Errorf("deployment: pass role %q: want an IAM role ARN", r))
		}
	}
	return errors.Join(errs...)
}

// names are the ARNs of a deployment's resources, each derived once from
// the names the components use (awsbackend's options, topology's queues).
type names struct {
	d                                     Deployment
	requests, requestDLQ, runDLQ          string
	lanes, streams, anyQueue              string
	journal, taskLogs                     string // group ARNs
	gatekeeperLogs, logshipperLogs        string
	leases, cluster, tasks, instances     string
	taskDefinitions, passRoles            []string
	passedToECS, createdByRunTask, inTask map[string]string
}

func namesOf(d Deployment) names {
	d = d.WithDefaults()
	o := d.Options
	arn := func(service, resource string) string {
		return fmt.Sprintf("arn:%s:%s:%s:%s:%s", d.Partition, service, d.Region, d.Account, resource)
	}
	queue := func(name string) string { return arn("sqs", o.Prefix+name) }
	group := func(name string) string { return arn("logs", "log-group:"+name) }
	cluster, clusterName := o.Cluster, o.Cluster
	if strings.HasPrefix(cluster, "arn:") {
		_, clusterName, _ = strings.Cut(cluster, ":cluster/")
	} else {
		cluster = arn("ecs", "cluster/"+clusterName)
	}
	n := names{
		d:              d,
		requests:       queue(topology.RequestQueue),
		requestDLQ:     queue(topology.RequestDLQ),
		runDLQ:         queue(topology.RunDLQ),
		lanes:          queue(topology.LaneQueue("*")),
		streams:        queue(sqsstream.Address("*")),
		anyQueue:       arn("sqs", "*"),
		journal:        group(o.JournalLogGroup),
		taskLogs:       group(o.TaskLogGroup),
		gatekeeperLogs: group("/aws/lambda/" + d.GatekeeperFunction),
		logshipperLogs: group("/aws/lambda/" + d.LogshipperFunction),
		leases:         arn("dynamodb", "table/"+o.LeaseTable),
		cluster:        cluster,
		tasks:          arn("ecs", "task/"+clusterName+"/*"),
		instances:      arn("ecs", "container-instance/"+clusterName+"/*"),
		passRoles:      d.PassRoles,
		inTask:         map[string]string{"ecs:cluster": cluster},
		passedToECS:    map[string]string{"iam:PassedToService": "ecs-tasks.amazonaws.com"}, //nolint:gosec // a service principal, no credential
		createdByRunTask: map[string]string{
			"ecs:CreateAction": "RunTask",
		},
	}
	if len(d.TaskDefinitions) == 0 {
		n.taskDefinitions = []string{arn("ecs", "task-definition/*")}
	}
	for _, f := range d.TaskDefinitions {
		n.taskDefinitions = append(n.taskDefinitions, arn("ecs", "task-definition/"+f+":*"))
	}
	return n
}

// logs returns a log group's ARN and its streams': CloudWatch Logs
// authorizes some calls on the group and others on the stream, so a
// right to write or read a group's streams is required on both.
func logs(group string) []string { return []string{group, group + ":log-stream:*"} }

// grant is a row of the rights table: actions on resources, for one
// reason.
type grant struct {
	who                Principal
	actions            []string
	on                 func(n names) []string
	context            func(n names) map[string]string
	why                string
	optional, operator bool
}

func one(f func(n names) string) func(n names) []string {
	return func(n names) []string { return []string{f(n)} }
}

// grants is the one list of what each component calls, on what, and why.
// docs/aws.md's table is generated from it; the tests compare it with
// the calls each component makes (test/terraform_test.go records them)
// and with the Terraform module's policies.
var grants = []grant{
	// The gatekeeper Lambda.
	{who: Gatekeeper, actions: []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"},
		on:  one(func(n names) string { return n.requests }),
		why: "the event source mapping receives requests with the function's role and deletes those handled"},
	{who: Gatekeeper, actions: []string{"sqs:GetQueueUrl"},
		on:  one(func(n names) string { return n.requests }),
		why: "opens the deployment"},
	{who: Gatekeeper, actions: []string{"sqs:GetQueueUrl", "sqs:SendMessage"},
		on:  one(func(n names) string { return n.requestDLQ }),
		why: "dead-letters the requests it cannot handle"},
	{who: Gatekeeper, actions: []string{"sqs:GetQueueUrl", "sqs:GetQueueAttributes"},
		on:  one(func(n names) string { return n.runDLQ }),
		why: "opens the run dead-letter queue and reads its ARN for a new lane's redrive policy"},
	{who: Gatekeeper, actions: []string{"sqs:GetQueueUrl", "sqs:SendMessage"},
		on:  one(func(n names) string { return n.lanes }),
		why: "forwards run orders and cancel orders to the lanes' run queues"},
	{who: Gatekeeper, actions: []string{"sqs:CreateQueue", "sqs:SetQueueAttributes"},
		on:  one(func(n names) string { return n.lanes }),
		why: "creates the run queue of a lane on its first job"},
	{who: Gatekeeper, actions: []string{"sqs:GetQueueUrl", "sqs:SendMessage"},
		on:  one(func(n names) string { return n.streams }),
		why: "answers on the job's stream (accepted, rejected)"},
	{who: Gatekeeper, actions: []string{"sqs:CreateQueue", "sqs:TagQueue", "sqs:SetQueueAttributes"},
		on:  one(func(n names) string { return n.streams }),
		why: "makes the stream of a scheduled job (a schedule request carries none)"},
	{who: Gatekeeper, actions: []string{"logs:CreateLogStream", "logs:PutLogEvents", "logs:GetLogEvents"},
		on:  func(n names) []string { return logs(n.journal) },
		why: "writes its decision to the job's journal and reads the journal (cancels, replays)"},
	{who: Gatekeeper, actions: []string{"logs:CreateLogStream", "logs:PutLogEvents"},
		on:  func(n names) []string { return logs(n.gatekeeperLogs) },
		why: "the Lambda runtime writes the function's own log"},

	// The worker.
	{who: Worker, actions: []string{"sqs:ListQueues"},
		on:  one(func(n names) string { return n.anyQueue }),
		why: "finds the lanes' run queues, and the job streams for the janitor"},
	{who: Worker, actions: []string{"sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"},
		on:  one(func(n names) string { return n.lanes }),
		why: "takes run and cancel orders, keeps a running job's order invisible, deletes it when done"},
	{who: Worker, actions: []string{"sqs:GetQueueUrl"},
		on:  func(n names) []string { return []string{n.requests, n.requestDLQ} },
		why: "opens the deployment"},
	{who: Worker, actions: []string{"sqs:GetQueueUrl", "sqs:SendMessage"},
		on:  one(func(n names) string { return n.runDLQ }),
		why: "dead-letters failed jobs"},
	{who: Worker, actions: []string{"sqs:GetQueueUrl", "sqs:SendMessage"},
		on:  one(func(n names) string { return n.streams }),
		why: "publishes the job's status events to its stream"},
	{who: Worker, actions: []string{"sqs:ListQueueTags", "sqs:DeleteQueue"},
		on:  one(func(n names) string { return n.streams }),
		why: "the janitor deletes expired job streams"},
	{who: Worker, actions: []string{"ecs:RunTask"},
		on:      func(n names) []string { return n.taskDefinitions },
		context: func(n names) map[string]string { return n.inTask },
		why:     "starts each job's task on the cluster"},
	{who: Worker, actions: []string{"ecs:TagResource"},
		on:      one(func(n names) string { return n.tasks }),
		context: func(n names) map[string]string { return n.createdByRunTask },
		why:     "tags each task with its job and attempt as RunTask starts it"},
	{who: Worker, actions: []string{"ecs:DescribeTasks", "ecs:StopTask"},
		on:      one(func(n names) string { return n.tasks }),
		context: func(n names) map[string]string { return n.inTask },
		why:     "tracks tasks; stops those timed out or cancelled"},
	{who: Worker, actions: []string{"ecs:ListTasks"},
		on:      one(func(n names) string { return n.instances }),
		context: func(n names) map[string]string { return n.inTask },
		why:     "finds a job's task before starting one, so that no job runs twice"},
	{who: Worker, actions: []string{"iam:PassRole"},
		on:      func(n names) []string { return n.passRoles },
		context: func(n names) map[string]string { return n.passedToECS },
		why:     "RunTask passes the task definitions' execution and task roles to ECS"},
	{who: Worker, actions: []string{"dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
		on:  one(func(n names) string { return n.leases }),
		why: "takes, renews and returns lane leases (concurrency limits)"},
	{who: Worker, actions: []string{"logs:CreateLogStream", "logs:PutLogEvents", "logs:GetLogEvents"},
		on:  func(n names) []string { return logs(n.journal) },
		why: "records each job's progress in its journal and reads it (cancels, batches)"},

	// The logshipper Lambda.
	{who: Logshipper, actions: []string{"ecs:DescribeTasks"},
		on:      one(func(n names) string { return n.tasks }),
		context: func(n names) map[string]string { return n.inTask },
		why:     "finds the job of a task from its tags"},
	{who: Logshipper, actions: []string{"sqs:GetQueueUrl", "sqs:SendMessage"},
		on:  one(func(n names) string { return n.streams }),
		why: "ships the task's lines to the job's stream"},
	{who: Logshipper, actions: []string{"logs:CreateLogStream", "logs:PutLogEvents"},
		on:  func(n names) []string { return logs(n.logshipperLogs) },
		why: "the Lambda runtime writes the function's own log"},

	// Callers (terraform/modules/ci-caller).
	{who: Caller, actions: []string{"sqs:GetQueueUrl", "sqs:SendMessage"},
		on:  one(func(n names) string { return n.requests }),
		why: "enqueues job and cancel requests"},
	{who: Caller, actions: []string{"sqs:CreateQueue", "sqs:TagQueue", "sqs:SetQueueAttributes"},
		on:  one(func(n names) string { return n.streams }),
		why: "run, wait, cancel and describe make the job's stream, tagged with the job and its expiry"},
	{who: Caller, actions: []string{"sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:DeleteQueue"},
		on:  one(func(n names) string { return n.streams }),
		why: "follows the job's stream, and deletes it after the last event"},
	{who: Caller, actions: []string{"logs:GetLogEvents"},
		on:  func(n names) []string { return append(logs(n.journal), logs(n.taskLogs)...) },
		why: "status, logs and wait read the job's journal; the follower fills gaps from the task's log"},
	{who: Caller, actions: []string{"logs:DescribeLogStreams"},
		on:  one(func(n names) string { return n.journal }),
		why: "deployer jobs lists the journal's streams"},
	{who: Caller, actions: []string{"dynamodb:Query"}, optional: true,
		on:  one(func(n names) string { return n.leases }),
		why: "deployer status counts what runs in a queued job's lane (the ci-caller module grants it when given lease_table_arn)"},
	{who: Caller, actions: []string{"sqs:GetQueueUrl"},
		on:  func(n names) []string { return []string{n.requestDLQ, n.runDLQ, n.lanes} },
		why: "deployer doctor checks that the dead-letter queues, the lanes' run queues and the cancel queue exist; the dlq commands open the dead-letter queues"},
	{who: Caller, actions: []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:SendMessage", "sqs:GetQueueAttributes"},
		operator: true,
		on:       func(n names) []string { return []string{n.requestDLQ, n.runDLQ} },
		why:      "the dlq commands list, show, replay and purge dead letters (ci-caller's operator = true)"},
}

// Required returns every right the principals of d need, gatekeeper's
// first, then the worker's, the logshipper's and the caller's (the
// caller's operator rights last among them, marked Operator). It reads
// no AWS: d names the resources.
func Required(d Deployment) []Right {
	n := namesOf(d)
	var out []Right
	for _, p := range Principals() {
		for _, operator := range []bool{false, true} {
			for _, g := range grants {
				if g.who != p || g.operator != operator {
					continue
				}
				var ctx map[string]string
				if g.context != nil {
					ctx = g.context(n)
				}
				for _, res := range g.on(n) {
					for _, a := range g.actions {
						out = append(out, Right{Principal: p, Action: a, Resource: res, Context: maps.Clone(ctx),
							Why: g.why, Optional: g.optional, Operator: g.operator})
					}
				}
			}
		}
	}
	return out
}

// MinimalPolicy is an identity policy granting exactly rights: one
// statement per resource and context, with the actions needed there,
// conditioned on the context's keys.
func MinimalPolicy(rights []Right) Policy {
	p := Policy{Version: "2012-10-17"}
	at := map[string]int{} // resource and context → statement
	for _, r := range rights {
		keys := slices.Sorted(maps.Keys(r.Context))
		id := r.Resource
		for _, k := range keys {
			id += "\x00" + k + "=" + r.Context[k]
		}
		if i, ok := at[id]; ok {
			if !slices.Contains(p.Statements[i].Actions, r.Action) {
				p.Statements[i].Actions = append(p.Statements[i].Actions, r.Action)
			}
			continue
		}
		st := Statement{Effect: Allow, Actions: []string{r.Action}, Resources: []string{r.Resource}}
		for _, k := range keys {
			op := "StringEquals"
			if strings.HasPrefix(r.Context[k], "arn:") {
				op = "ArnEquals"
			}
			st.Conditions = append(st.Conditions, Condition{Operator: op, Key: k, Values: []string{r.Context[k]}})
		}
		at[id] = len(p.Statements)
		p.Statements = append(p.Statements, st)
	}
	return p
}
