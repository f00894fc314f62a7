package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/internal/embedded"
	"github.com/deployerhq/deployer/internal/netx"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// deployment is a Deployment on an opened backend.
type deployment struct {
	b      backend.Backend
	broker queue.Broker
	// client is nil when the request queue could not be opened.
	client *producer.Client
	prefix string
	action string
	caller schemas.CallerMetadata
	hints  Hints
}

var _ Deployment = (*deployment)(nil)

func (d *deployment) Where() string                { return d.b.Where() }
func (d *deployment) QueueName(name string) string { return d.prefix + name }
func (d *deployment) QueueAction() string          { return d.action }
func (d *deployment) Hints() Hints                 { return d.hints }

func (d *deployment) OpenQueue(ctx context.Context, name string) error {
	_, err := d.broker.Open(ctx, name)
	return err
}

// errNoRequests refuses what needs the request queue when it could not be
// opened (Run skips those checks then).
var errNoRequests = errors.New("the request queue could not be opened")

func (d *deployment) Describe(ctx context.Context) (producer.Description, error) {
	if d.client == nil {
		return producer.Description{}, errNoRequests
	}
	return d.client.DescribePolicy(ctx, d.caller)
}

func (d *deployment) Canary(ctx context.Context, container string, maxWait time.Duration) (producer.Job, error) {
	if d.client == nil {
		return producer.Job{}, errNoRequests
	}
	return d.client.Submit(ctx, producer.Request{Container: container, Canary: true, Caller: d.caller, MaxWait: maxWait})
}

func (d *deployment) Follow(ctx context.Context, job producer.Job, opts producer.FollowOptions) (producer.FollowResult, error) {
	return d.client.Follow(ctx, job, opts)
}

// opened is a deployment doctor opened: the deployment, the reach check's
// result, and what to release when done.
type opened struct {
	d       *deployment
	reach   Result
	release func()
}

// open opens the backend the global flags select and checks that it can
// be reached. An error is one doctor cannot report as a check (a usage
// or configuration error, a state directory this user cannot write): it
// ends the command with its own exit code.
func open(ctx context.Context, f *factory.Factory) (opened, error) {
	name, err := f.ResolveBackend()
	if err != nil {
		return opened{}, err
	}
	start := time.Now()
	var o opened
	if name == factory.BackendAWS {
		o, err = openAWS(ctx, f)
	} else {
		o, err = openEmbedded(ctx, f)
	}
	if err != nil {
		return opened{}, err
	}
	o.reach.Check, o.reach.Duration = CheckReach, schemas.Duration(time.Since(start).Round(time.Millisecond))
	if o.d != nil {
		o.d.caller = producer.CallerFromEnv(f.Getenv)
	}
	return o, nil
}

// AWS is what doctor needs of the factory's aws backend
// (factory.Factory.AWS; package awscli implements it).
type AWS interface {
	// Doctor opens the AWS deployment the global flags select. When its
	// request queue is missing or denied, it opens it without one (a
	// nil AWSDeployment.Client): the queues check says what is wrong.
	Doctor(ctx context.Context, f *factory.Factory) (AWSDeployment, error)
	// Permissions returns the permission checker of a backend Doctor
	// opened: the static IAM policy check of the deployment's roles and
	// of the identity doctor runs as. Nil for any other backend.
	Permissions(b backend.Backend) PermissionChecker
}

// AWSDeployment is an AWS deployment AWS.Doctor opened.
type AWSDeployment struct {
	Backend backend.Backend
	Broker  queue.Broker
	// Client submits to the request queue; nil when that queue could not
	// be opened.
	Client *producer.Client
	// Prefix starts the name of every resource of the deployment, its
	// default applied.
	Prefix string
}

// permissionsFor returns the permission checker of an opened backend:
// the factory's aws backend's (AWS.Permissions); none on the embedded
// backend, which has no IAM.
func permissionsFor(f *factory.Factory) func(backend.Backend) PermissionChecker {
	return func(b backend.Backend) PermissionChecker {
		if a, ok := f.AWS.(AWS); ok {
			return a.Permissions(b)
		}
		return nil
	}
}

// openAWS opens the factory's aws backend; deployer, which has none,
// hands the command line to deployer-aws.
func openAWS(ctx context.Context, f *factory.Factory) (opened, error) {
	a, err := factory.AWSPart[AWS](f)
	if err != nil {
		return opened{}, err
	}
	region, prefix := f.AWSLocation()
	endpoint := "the AWS endpoint"
	if u := f.Getenv("AWS_ENDPOINT_URL"); u != "" {
		endpoint += " " + u
	}
	ad, err := a.Doctor(ctx, f)
	if err != nil {
		var ee *factory.ExitError
		if errors.As(err, &ee) {
			return opened{}, err
		}
		if region == "" {
			region = "the SDK's region"
		}
		reach := Result{Subject: fmt.Sprintf("AWS deployment in %s with prefix %q", region, prefix)}
		if cause, ok := netx.Unreachable(err); ok {
			reach.fail(CauseUnreachable, fmt.Sprintf("cannot reach AWS: %v", cause),
				"Check --region/--aws-region, AWS_ENDPOINT_URL and the network (a proxy, a VPC endpoint, DNS).")
		} else {
			reach.fail(CauseUnreachable, fmt.Sprintf("the AWS backend could not be opened: %v", err),
				"Check the credentials you sign with (AWS_PROFILE, the role) and --region.")
		}
		return opened{reach: reach, release: func() {}}, nil
	}
	b, p := ad.Backend, ad.Prefix
	d := &deployment{
		b: b, broker: ad.Broker, client: ad.Client, prefix: p, action: "sqs:GetQueueUrl",
		hints: Hints{
			GatekeeperSilent: fmt.Sprintf("On AWS the gatekeeper is the Lambda function %[1]sgatekeeper, fed by the queue %[1]srequests through an event source mapping. "+
				"Check that the function exists and its recent invocations succeed (its log group /aws/lambda/%[1]sgatekeeper), that the event source mapping is Enabled, "+
				"and that its alias \"live\" points at a version that works (after a failed upgrade: deployer rollback). "+
				"Without Lambdas, a \"deployer up --backend aws\" must be running. Requests it failed on go to %[1]srequests-dlq (deployer dlq list --queue request).", p),
			NotStarted: fmt.Sprintf("On AWS the workers are the ECS service %[1]sworker (or a \"deployer up --backend aws\"): check that it runs a task (desired count above 0, tasks that do not crash: log group /%[1]sworker) "+
				"and that its role may receive from the %[1]sruns-lane-* queues, the cancel queue included. A worker older than the gatekeeper dead-letters canaries (deployer dlq list --queue run): upgrade it.", p),
			QueueMissing: "The deployer Terraform module creates every queue of the deployment: run terraform apply on it (or deployer up --backend aws --provision on a deployment without Terraform). " +
				"The gatekeeper creates a lane's run queue on the lane's first job, without the module's alarms.",
			TaskDefinition: "On AWS a container's task is the task definition family its configuration names (task_definition). Register it (terraform apply of the deployer module), " +
				"or, when an upgrade deregistered it, roll back (deployer rollback); RunTask takes the family's latest ACTIVE revision.",
		},
	}
	return opened{d: d, reach: Result{Subject: b.Where(), Status: StatusOK, Message: endpoint + " answered"}, release: func() { _ = b.Close() }}, nil
}

func openEmbedded(ctx context.Context, f *factory.Factory) (opened, error) {
	eb, err := f.Embedded(ctx)
	if err != nil {
		var ee *factory.ExitError
		if errors.As(err, &ee) {
			return opened{}, err
		}
		reach := Result{Subject: "state directory"}
		reach.fail(CauseUnreachable, fmt.Sprintf("the state directory could not be opened: %v", err), "")
		return opened{reach: reach, release: func() {}}, nil
	}
	// Serving the state directory, as every command does, goes through
	// the client; the queues and the producer are looked at below it.
	c, err := f.Client(ctx)
	if err != nil {
		_ = eb.Close()
		return opened{}, err
	}
	closeAll := func() { _ = c.Close(); _ = eb.Close() }
	if err := f.CheckServedConfig(c); err != nil {
		closeAll()
		return opened{}, err
	}
	served, err := eb.Served()
	if err != nil {
		closeAll()
		return opened{}, fmt.Errorf("looking for a deployer up serving %s: %w", eb.Dir, err)
	}
	reach := Result{Subject: eb.Where(), Status: StatusOK}
	if served {
		reach.Message = eb.Where() + ", served by " + servers(eb.Dir, true)
	} else {
		// Every command serves the state directory when nothing does; so
		// does doctor, which then proves that it can be served.
		if err := jobview.EnsureServed(ctx, f, c, nil); err != nil {
			var ee *factory.ExitError
			if errors.As(err, &ee) {
				closeAll()
				return opened{}, err
			}
			reach.fail(CauseUnreachable, fmt.Sprintf("no deployer up serves %s, and starting one failed: %v", eb.Dir, err),
				"See serve.log in the state directory, or run deployer up in a terminal to see why it does not start.")
			return opened{reach: reach, release: closeAll}, nil
		}
		reach.Message = eb.Where() + ": no deployer up served it, so doctor started one (detached; it stops once idle)"
	}
	stop := jobview.KeepServed(ctx, f, c, 2*time.Second)
	d := &deployment{
		b: eb, broker: eb.Broker, client: eb.Client(), action: "opening",
		hints: Hints{
			GatekeeperSilent: fmt.Sprintf("On the embedded backend the gatekeeper runs inside the deployer up serving %s (%s). "+
				"It may be stopped (a suspended terminal job, SIGSTOP: resume it with fg or kill -CONT), stuck or overloaded: "+
				"its log says more (serve.log in the state directory for a detached one). Stop it, and run deployer up again.", eb.Dir, servers(eb.Dir, false)),
			NotStarted: fmt.Sprintf("On the embedded backend the worker runs inside the deployer up serving %s (%s): it may be stopped or stuck; its log says more.",
				eb.Dir, servers(eb.Dir, false)),
			QueueMissing: "deployer up creates the queues of the state directory when it starts: restart it.",
			TaskDefinition: "On the embedded backend a container's task is its local.scripts_dir: that directory is gone. " +
				"Restore it or fix the configuration, and reload deployer up (SIGHUP).",
		},
	}
	return opened{d: d, reach: reach, release: func() { stop(); closeAll() }}, nil
}

// servers names the deployer ups serving a state directory, and with
// supervisors what supervises each one's tasks, as it said.
func servers(dir string, supervisors bool) string {
	served, err := embedded.ServedConfigs(dir)
	if err != nil || len(served) == 0 {
		return "deployer up"
	}
	each := make([]string, 0, len(served))
	for _, s := range served {
		one := fmt.Sprint(s.PID)
		if supervisors && s.Supervisors != "" {
			one += ", task supervisors: " + s.Supervisors
		}
		each = append(each, one)
	}
	return "deployer up (pid " + strings.Join(each, "; pid ") + ")"
}

// queueNames are the queues every deployment has, checked first.
var queueNames = []string{topology.RequestQueue, topology.RequestDLQ, topology.RunDLQ, topology.CancelQueue}
