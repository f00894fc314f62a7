// Package awsrollbacktest seeds an AWS endpoint (moto in CI) with
// deployments as the Terraform module leaves them: an IAM role, the two
// Lambda functions from a tiny zip with published versions described
// "deployer release <R>" and the alias live, task definitions tagged
// with their release and deployment, a cluster and the worker service.
// The rollback suite and the end-to-end test of "deployer rollback" use
// it; what it made is removed when the test ends.
package awsrollbacktest

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/rollback"
	"github.com/deployerhq/deployer/internal/rollback/awsrollback"
	"github.com/deployerhq/deployer/internal/rollback/rollbacktest"
)

// Harness returns the AWS adapter and a Seeder on the endpoint of
// DEPLOYER_TEST_AWS_ENDPOINT, skipping the test when it is not set.
func Harness(t *testing.T) rollbacktest.Harness {
	t.Helper()
	ep := awstest.Endpoint(t, "lambda")
	awstest.Endpoint(t, "ecs")
	awstest.Endpoint(t, "iam")
	cfg := awstest.Config(t, ep, nil)
	return rollbacktest.Harness{Ports: awsrollback.New(cfg, awsrollback.Options{}), Seed: NewSeeder(t, cfg)}
}

// Seeder is rollbacktest.Seeder on AWS APIs.
type Seeder struct {
	lambda *lambda.Client
	ecs    *ecs.Client
	iam    *iam.Client

	mu        sync.Mutex
	role      string
	published map[string]int // function → versions published
	arns      []string
	services  map[string][2]string // "cluster/service" → cluster, service
	clusters  map[string]bool
}

var _ rollbacktest.Seeder = (*Seeder)(nil)

// NewSeeder returns a Seeder on cfg that removes what it made when t
// ends.
func NewSeeder(t testing.TB, cfg aws.Config) *Seeder {
	s := &Seeder{
		lambda: lambda.NewFromConfig(cfg), ecs: ecs.NewFromConfig(cfg), iam: iam.NewFromConfig(cfg),
		published: map[string]int{}, services: map[string][2]string{}, clusters: map[string]bool{},
	}
	t.Cleanup(func() { s.cleanup(t) })
	return s
}

func ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Minute)
}

// roleARN creates, once, the role the functions run as.
func (s *Seeder) roleARN(t testing.TB) string {
	if s.role != "" {
		return s.role
	}
	c, cancel := ctx()
	defer cancel()
	trust, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect": "Allow", "Action": "sts:AssumeRole",
			"Principal": map[string]string{"Service": "lambda.amazonaws.com"},
		}},
	})
	out, err := s.iam.CreateRole(c, &iam.CreateRoleInput{
		RoleName:                 aws.String(rollbacktest.NewPrefix() + "lambda"),
		AssumeRolePolicyDocument: aws.String(string(trust)),
	})
	if err != nil {
		t.Fatalf("creating the functions' IAM role: %v", err)
	}
	s.role = aws.ToString(out.Role.Arn)
	return s.role
}

// zipOf is a Lambda package whose bootstrap differs with n, so that each
// version has code of its own.
func zipOf(t testing.TB, function string, n int) []byte {
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	w, err := z.Create("bootstrap")
	if err == nil {
		_, err = fmt.Fprintf(w, "#!/bin/sh\n# %s build %d\n", function, n)
	}
	if err == nil {
		err = z.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Publish implements rollbacktest.Seeder: CreateFunction the first time,
// UpdateFunctionCode after, then PublishVersion with the release's
// description.
func (s *Seeder) Publish(t testing.TB, function, release string) int {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, cancel := ctx()
	defer cancel()
	desc := rollback.DescriptionPrefix + release
	n := s.published[function]
	code := zipOf(t, function, n+1)
	var err error
	if n == 0 {
		_, err = s.lambda.CreateFunction(c, &lambda.CreateFunctionInput{
			FunctionName: aws.String(function),
			Role:         aws.String(s.roleARN(t)),
			Runtime:      lambdatypes.RuntimeProvidedal2023,
			Handler:      aws.String("bootstrap"),
			Code:         &lambdatypes.FunctionCode{ZipFile: code},
			Description:  aws.String(desc),
		})
	} else {
		_, err = s.lambda.UpdateFunctionCode(c, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(function), ZipFile: code})
	}
	if err != nil {
		t.Fatalf("deploying code of %s: %v", function, err)
	}
	out, err := s.lambda.PublishVersion(c, &lambda.PublishVersionInput{FunctionName: aws.String(function), Description: aws.String(desc)})
	if err != nil {
		t.Fatalf("publishing a version of %s: %v", function, err)
	}
	v, err := strconv.Atoi(aws.ToString(out.Version))
	if err != nil || v != n+1 {
		t.Fatalf("published version %q of %s, want %d", aws.ToString(out.Version), function, n+1)
	}
	s.published[function] = v
	return v
}

// SetAlias implements rollbacktest.Seeder with CreateAlias or
// UpdateAlias.
func (s *Seeder) SetAlias(t testing.TB, function string, version int, description string) {
	t.Helper()
	c, cancel := ctx()
	defer cancel()
	v := strconv.Itoa(version)
	if version == 0 {
		v = "$LATEST"
	}
	_, err := s.lambda.UpdateAlias(c, &lambda.UpdateAliasInput{
		FunctionName: aws.String(function), Name: aws.String(rollback.Alias),
		FunctionVersion: aws.String(v), Description: aws.String(description),
	})
	if awsx.HasCode(err, "ResourceNotFoundException") {
		_, err = s.lambda.CreateAlias(c, &lambda.CreateAliasInput{
			FunctionName: aws.String(function), Name: aws.String(rollback.Alias),
			FunctionVersion: aws.String(v), Description: aws.String(description),
		})
	}
	if err != nil {
		t.Fatalf("pointing alias %s of %s at %s: %v", rollback.Alias, function, v, err)
	}
}

// Register implements rollbacktest.Seeder with RegisterTaskDefinition:
// one container whose environment names the release, as the module's.
func (s *Seeder) Register(t testing.TB, family string, tags map[string]string) string {
	t.Helper()
	c, cancel := ctx()
	defer cancel()
	var ts []ecstypes.Tag
	for k, v := range tags {
		ts = append(ts, ecstypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	out, err := s.ecs.RegisterTaskDefinition(c, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name:        aws.String("deployer"),
			Image:       aws.String("deployer-task:" + tags[rollback.TagRelease]),
			Essential:   aws.Bool(true),
			Memory:      aws.Int32(128),
			Environment: []ecstypes.KeyValuePair{{Name: aws.String("DEPLOYER_RELEASE"), Value: aws.String(tags[rollback.TagRelease])}},
		}},
		Tags: ts,
	})
	if err != nil {
		t.Fatalf("registering a task definition of %s: %v", family, err)
	}
	arn := aws.ToString(out.TaskDefinition.TaskDefinitionArn)
	s.mu.Lock()
	s.arns = append(s.arns, arn)
	s.mu.Unlock()
	return arn
}

// SetService implements rollbacktest.Seeder: CreateCluster and
// CreateService (no tasks) the first time, UpdateService after.
func (s *Seeder) SetService(t testing.TB, cluster, service, arn string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, cancel := ctx()
	defer cancel()
	if !s.clusters[cluster] {
		if _, err := s.ecs.CreateCluster(c, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
			t.Fatalf("creating cluster %s: %v", cluster, err)
		}
		s.clusters[cluster] = true
	}
	key := cluster + "/" + service
	var err error
	if _, ok := s.services[key]; ok {
		_, err = s.ecs.UpdateService(c, &ecs.UpdateServiceInput{Cluster: aws.String(cluster), Service: aws.String(service), TaskDefinition: aws.String(arn)})
	} else {
		_, err = s.ecs.CreateService(c, &ecs.CreateServiceInput{
			Cluster: aws.String(cluster), ServiceName: aws.String(service), TaskDefinition: aws.String(arn), DesiredCount: aws.Int32(0),
		})
		s.services[key] = [2]string{cluster, service}
	}
	if err != nil {
		t.Fatalf("pointing service %s at %s: %v", key, arn, err)
	}
}

// cleanup removes what the seeder made; failures are logged, not fatal
// (the emulator is thrown away with its state anyway).
func (s *Seeder) cleanup(t testing.TB) {
	c, cancel := ctx()
	defer cancel()
	var errs []error
	for _, sv := range s.services {
		_, err := s.ecs.DeleteService(c, &ecs.DeleteServiceInput{Cluster: aws.String(sv[0]), Service: aws.String(sv[1]), Force: aws.Bool(true)})
		errs = append(errs, err)
	}
	for cl := range s.clusters {
		_, err := s.ecs.DeleteCluster(c, &ecs.DeleteClusterInput{Cluster: aws.String(cl)})
		errs = append(errs, err)
	}
	for _, arn := range s.arns {
		_, err := s.ecs.DeregisterTaskDefinition(c, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(arn)})
		if !awsx.HasCode(err, "ClientException") { // already INACTIVE
			errs = append(errs, err)
		}
	}
	for fn := range s.published {
		_, err := s.lambda.DeleteFunction(c, &lambda.DeleteFunctionInput{FunctionName: aws.String(fn)})
		errs = append(errs, err)
	}
	if s.role != "" {
		_, err := s.iam.DeleteRole(c, &iam.DeleteRoleInput{RoleName: aws.String(roleName(s.role))})
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		t.Logf("cleaning up the seeded deployment: %v", err)
	}
}

func roleName(arn string) string {
	for i := len(arn) - 1; i >= 0; i-- {
		if arn[i] == '/' {
			return arn[i+1:]
		}
	}
	return arn
}
