package awsrollback

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/rollback"
)

// DefaultCallTimeout bounds each call when Options.CallTimeout is zero.
const DefaultCallTimeout = 30 * time.Second

// Options tune the adapters.
type Options struct {
	// CallTimeout bounds each AWS call (each page of a listing), its
	// retries included. Defaults to DefaultCallTimeout (30s).
	CallTimeout time.Duration
}

func (o Options) timeout() time.Duration {
	if o.CallTimeout <= 0 {
		return DefaultCallTimeout
	}
	return o.CallTimeout
}

// New returns the ports on cfg (from awsx.Load, whose retryer retries
// throttling, 5xx and broken connections with backoff).
func New(cfg aws.Config, o Options) rollback.Ports {
	return rollback.Ports{
		Functions: NewFunctions(lambda.NewFromConfig(cfg), o),
		Tasks:     NewTasks(ecs.NewFromConfig(cfg), o),
	}
}

// Functions is rollback.Functions on AWS Lambda.
type Functions struct {
	client  *lambda.Client
	timeout time.Duration
}

var _ rollback.Functions = (*Functions)(nil)

// NewFunctions returns the Lambda adapter on client.
func NewFunctions(client *lambda.Client, o Options) *Functions {
	return &Functions{client: client, timeout: o.timeout()}
}

// Alias implements rollback.Functions with GetAlias.
func (f *Functions) Alias(ctx context.Context, function, name string) (rollback.AliasTarget, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	out, err := f.client.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(function), Name: aws.String(name)})
	if err != nil {
		return rollback.AliasTarget{}, translate(err, "lambda:GetAlias", function+":"+name)
	}
	v, err := versionNumber(aws.ToString(out.FunctionVersion))
	if err != nil {
		return rollback.AliasTarget{}, fmt.Errorf("alias %s of %s: %w", name, function, err)
	}
	return rollback.AliasTarget{Version: v, Description: aws.ToString(out.Description), RevisionID: aws.ToString(out.RevisionId)}, nil
}

// Versions implements rollback.Functions with ListVersionsByFunction,
// page by page.
func (f *Functions) Versions(ctx context.Context, function string) ([]rollback.Version, error) {
	pages := lambda.NewListVersionsByFunctionPaginator(f.client, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(function)})
	var out []rollback.Version
	for pages.HasMorePages() {
		page, err := f.page(ctx, func(ctx context.Context) (*lambda.ListVersionsByFunctionOutput, error) { return pages.NextPage(ctx) })
		if err != nil {
			return nil, translate(err, "lambda:ListVersionsByFunction", function)
		}
		for _, v := range page.Versions {
			if aws.ToString(v.Version) == "$LATEST" {
				continue
			}
			n, err := versionNumber(aws.ToString(v.Version))
			if err != nil {
				return nil, fmt.Errorf("versions of %s: %w", function, err)
			}
			out = append(out, rollback.Version{Number: n, Description: aws.ToString(v.Description)})
		}
	}
	return out, nil
}

func (f *Functions) page(ctx context.Context, next func(context.Context) (*lambda.ListVersionsByFunctionOutput, error)) (*lambda.ListVersionsByFunctionOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	return next(ctx)
}

// UpdateAlias implements rollback.Functions with UpdateAlias, carrying
// the revision id when given.
func (f *Functions) UpdateAlias(ctx context.Context, function, name string, to rollback.AliasUpdate) error {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	in := &lambda.UpdateAliasInput{
		FunctionName:    aws.String(function),
		Name:            aws.String(name),
		FunctionVersion: aws.String(strconv.Itoa(to.Version)),
		Description:     aws.String(to.Description),
	}
	if to.RevisionID != "" {
		in.RevisionId = aws.String(to.RevisionID)
	}
	_, err := f.client.UpdateAlias(ctx, in)
	return translate(err, "lambda:UpdateAlias", function+":"+name)
}

// versionNumber parses a Lambda version: "$LATEST" is 0.
func versionNumber(s string) (int, error) {
	if s == "$LATEST" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("version %q is not a version number", s)
	}
	return n, nil
}

// Tasks is rollback.Tasks on Amazon ECS.
type Tasks struct {
	client  *ecs.Client
	timeout time.Duration
}

var _ rollback.Tasks = (*Tasks)(nil)

// NewTasks returns the ECS adapter on client.
func NewTasks(client *ecs.Client, o Options) *Tasks {
	return &Tasks{client: client, timeout: o.timeout()}
}

// ActiveTaskDefinitions implements rollback.Tasks with
// ListTaskDefinitions (status ACTIVE, every family), page by page: one
// listing for the region rather than one per family.
func (t *Tasks) ActiveTaskDefinitions(ctx context.Context) ([]string, error) {
	pages := ecs.NewListTaskDefinitionsPaginator(t.client, &ecs.ListTaskDefinitionsInput{Status: ecstypes.TaskDefinitionStatusActive})
	var out []string
	for pages.HasMorePages() {
		pctx, cancel := context.WithTimeout(ctx, t.timeout)
		page, err := pages.NextPage(pctx)
		cancel()
		if err != nil {
			return nil, translate(err, "ecs:ListTaskDefinitions", "*")
		}
		out = append(out, page.TaskDefinitionArns...)
	}
	return out, nil
}

// DescribeTaskDefinition implements rollback.Tasks with
// DescribeTaskDefinition, including the tags.
func (t *Tasks) DescribeTaskDefinition(ctx context.Context, arn string) (rollback.TaskDefinition, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	out, err := t.client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String(arn),
		Include:        []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
	})
	if err != nil {
		return rollback.TaskDefinition{}, translate(err, "ecs:DescribeTaskDefinition", arn)
	}
	td := out.TaskDefinition
	if td == nil {
		return rollback.TaskDefinition{}, fmt.Errorf("describing task definition %s: ECS answered without one", arn)
	}
	tags := make(map[string]string, len(out.Tags))
	for _, tag := range out.Tags {
		tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return rollback.TaskDefinition{
		ARN:      aws.ToString(td.TaskDefinitionArn),
		Family:   aws.ToString(td.Family),
		Revision: int(td.Revision),
		Active:   td.Status == ecstypes.TaskDefinitionStatusActive,
		Tags:     tags,
	}, nil
}

// DeregisterTaskDefinition implements rollback.Tasks.
func (t *Tasks) DeregisterTaskDefinition(ctx context.Context, arn string) error {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	_, err := t.client.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(arn)})
	if err != nil && awsx.HasCode(err, "ClientException") && strings.Contains(strings.ToLower(err.Error()), "inactive") {
		return nil // deregistered already
	}
	return translate(err, "ecs:DeregisterTaskDefinition", arn)
}

// ServiceTaskDefinition implements rollback.Tasks with DescribeServices.
func (t *Tasks) ServiceTaskDefinition(ctx context.Context, cluster, service string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	out, err := t.client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{service}})
	if err != nil {
		return "", translate(err, "ecs:DescribeServices", cluster+"/"+service)
	}
	for _, s := range out.Services {
		if aws.ToString(s.ServiceName) == service && aws.ToString(s.Status) != "INACTIVE" {
			return aws.ToString(s.TaskDefinition), nil
		}
	}
	reason := "MISSING"
	for _, f := range out.Failures {
		reason = aws.ToString(f.Reason)
	}
	return "", fmt.Errorf("ECS service %s of cluster %s: %s: %w", service, cluster, reason, rollback.ErrNotFound)
}

// UpdateService implements rollback.Tasks.
func (t *Tasks) UpdateService(ctx context.Context, cluster, service, arn string) error {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	_, err := t.client.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster: aws.String(cluster), Service: aws.String(service), TaskDefinition: aws.String(arn),
	})
	return translate(err, "ecs:UpdateService", cluster+"/"+service)
}

// translate turns an AWS error into the port's: denied calls into a
// *rollback.DeniedError naming action and resource, missing things into
// rollback.ErrNotFound, a stale alias revision into rollback.ErrConflict.
// Anything else (throttling the retryer gave up on, a network that cannot
// be reached) is wrapped as it is, so that its cause stays visible.
func translate(err error, action, resource string) error {
	switch {
	case err == nil:
		return nil
	case awsx.HasCode(err, "AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "UnauthorizedException"):
		return &rollback.DeniedError{Action: action, Resource: resource, Err: err}
	case awsx.HasCode(err, "ResourceNotFoundException", "ClusterNotFoundException", "ServiceNotFoundException", "ServiceNotActiveException"),
		awsx.HasCode(err, "ClientException") && strings.Contains(err.Error(), "Unable to describe task definition"):
		return fmt.Errorf("%s on %s: %w: %w", action, resource, rollback.ErrNotFound, err)
	case awsx.HasCode(err, "PreconditionFailedException"):
		return fmt.Errorf("%s on %s: %w: %w", action, resource, rollback.ErrConflict, err)
	}
	return fmt.Errorf("%s on %s: %w", action, resource, err)
}
