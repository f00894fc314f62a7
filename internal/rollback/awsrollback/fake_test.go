package awsrollback_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/netx"
	"github.com/deployerhq/deployer/internal/rollback"
	"github.com/deployerhq/deployer/internal/rollback/awsrollback"
	"github.com/deployerhq/deployer/test/awsfake"
)

// These tests hold the adapter to AWS's own answers where moto 5.2.1
// answers otherwise or not at all: Lambda's restJson1 errors (an
// AccessDeniedException, a stale RevisionId's PreconditionFailedException,
// a missing function's ResourceNotFoundException), paginated listings,
// ECS's AccessDeniedException, and calls that must end at their deadline.

// lambdaError answers as Lambda does: the code in X-Amzn-ErrorType, the
// message in the body.
func lambdaError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("X-Amzn-Errortype", code)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"Type": "User", "Message": msg})
}

func serve(t *testing.T, h http.Handler) aws.Config {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return awstest.Config(t, srv.URL, nil)
}

const deniedMessage = "User: arn:aws:sts::123456789012:assumed-role/ci-deployer/run-42 is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action"

func TestLambdaAccessDeniedNamesActionAndResource(t *testing.T) {
	cfg := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lambdaError(w, http.StatusForbidden, "AccessDeniedException",
			fmt.Sprintf(deniedMessage, "lambda:UpdateAlias", "arn:aws:lambda:us-east-1:123456789012:function:deployer-gatekeeper:live", "lambda:UpdateAlias"))
	}))
	fns := awsrollback.NewFunctions(lambda.NewFromConfig(cfg), awsrollback.Options{})
	err := fns.UpdateAlias(context.Background(), "deployer-gatekeeper", "live", rollback.AliasUpdate{Version: 1, Description: "x"})
	var denied *rollback.DeniedError
	if !errors.As(err, &denied) || denied.Action != "lambda:UpdateAlias" || denied.Resource != "deployer-gatekeeper:live" || !errors.Is(err, rollback.ErrDenied) {
		t.Fatalf("UpdateAlias: %v; want a DeniedError of lambda:UpdateAlias on deployer-gatekeeper:live", err)
	}
}

func TestECSAccessDeniedNamesActionAndResource(t *testing.T) {
	srv := &awsfake.Server{}
	srv.Add(&awsfake.Service{
		TargetPrefix: "AmazonEC2ContainerServiceV20141113",
		ContentType:  "application/x-amz-json-1.1",
		Operations: map[string]awsfake.Operation{
			"UpdateService": func(*http.Request, []byte) (any, error) {
				return nil, awsfake.ClientError("AccessDeniedException", deniedMessage,
					"ecs:UpdateService", "arn:aws:ecs:us-east-1:123456789012:service/deployer-tasks/deployer-worker", "ecs:UpdateService")
			},
		},
	})
	cfg := awstest.Config(t, srv.Start(t), nil)
	tasks := awsrollback.NewTasks(ecs.NewFromConfig(cfg), awsrollback.Options{})
	err := tasks.UpdateService(context.Background(), "deployer-tasks", "deployer-worker", "arn:aws:ecs:us-east-1:123456789012:task-definition/deployer-worker:1")
	var denied *rollback.DeniedError
	if !errors.As(err, &denied) || denied.Action != "ecs:UpdateService" || denied.Resource != "deployer-tasks/deployer-worker" {
		t.Fatalf("UpdateService: %v; want a DeniedError of ecs:UpdateService on deployer-tasks/deployer-worker", err)
	}
}

// UpdateAlias carries the revision id GetAlias read; Lambda's 412 for a
// stale one is ErrConflict.
func TestStaleAliasRevisionIsAConflict(t *testing.T) {
	var sent map[string]any
	cfg := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &sent)
		lambdaError(w, http.StatusPreconditionFailed, "PreconditionFailedException",
			"The Revision Id provided does not match the latest Revision Id. Call the GetAlias API to retrieve the latest Revision Id")
	}))
	fns := awsrollback.NewFunctions(lambda.NewFromConfig(cfg), awsrollback.Options{})
	err := fns.UpdateAlias(context.Background(), "deployer-gatekeeper", "live", rollback.AliasUpdate{Version: 3, Description: "d", RevisionID: "rev-1"})
	if !errors.Is(err, rollback.ErrConflict) {
		t.Fatalf("UpdateAlias: %v; want ErrConflict", err)
	}
	if sent["RevisionId"] != "rev-1" || sent["FunctionVersion"] != "3" || sent["Description"] != "d" {
		t.Errorf("UpdateAlias sent %v", sent)
	}
}

// ListVersionsByFunction is read page by page (Lambda returns at most
// 50 versions a page), and a missing function is ErrNotFound.
func TestVersionsPageByPageAndMissingFunction(t *testing.T) {
	var markers []string
	cfg := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/2015-03-31/functions/deployer-gatekeeper/versions") {
			lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope")
			return
		}
		m := r.URL.Query().Get("Marker")
		markers = append(markers, m)
		page := map[string]any{}
		switch m {
		case "":
			page["Versions"] = []map[string]string{{"Version": "$LATEST", "Description": "deployer release B"}, {"Version": "1", "Description": "deployer release A"}}
			page["NextMarker"] = "p2"
		case "p2":
			page["Versions"] = []map[string]string{{"Version": "2", "Description": "deployer release B"}}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(page)
	}))
	fns := awsrollback.NewFunctions(lambda.NewFromConfig(cfg), awsrollback.Options{})
	vs, err := fns.Versions(context.Background(), "deployer-gatekeeper")
	want := []rollback.Version{{Number: 1, Description: "deployer release A"}, {Number: 2, Description: "deployer release B"}}
	if err != nil || !slices.Equal(vs, want) || !slices.Equal(markers, []string{"", "p2"}) {
		t.Fatalf("Versions: %v, %v (markers %q); want %v over two pages", vs, err, markers, want)
	}
	if _, err := fns.Versions(context.Background(), "nope"); !errors.Is(err, rollback.ErrNotFound) {
		t.Fatalf("Versions of a missing function: %v; want ErrNotFound", err)
	}
}

// ListTaskDefinitions is read page by page, throttling answers are
// retried, and only ACTIVE revisions are asked for.
func TestActiveTaskDefinitionsPageByPage(t *testing.T) {
	var calls atomic.Int32
	srv := &awsfake.Server{}
	srv.Add(&awsfake.Service{
		TargetPrefix: "AmazonEC2ContainerServiceV20141113",
		ContentType:  "application/x-amz-json-1.1",
		Operations: map[string]awsfake.Operation{
			"ListTaskDefinitions": func(_ *http.Request, body []byte) (any, error) {
				if calls.Add(1) == 2 {
					return nil, awsfake.ClientError("ThrottlingException", "Rate exceeded")
				}
				var in struct{ Status, NextToken string }
				if err := json.Unmarshal(body, &in); err != nil || in.Status != "ACTIVE" {
					return nil, awsfake.ClientError("InvalidParameterException", "want status ACTIVE, got %s", body)
				}
				if in.NextToken == "" {
					return map[string]any{"taskDefinitionArns": []string{"arn:td/a:1"}, "nextToken": "t2"}, nil
				}
				return map[string]any{"taskDefinitionArns": []string{"arn:td/b:1"}}, nil
			},
		},
	})
	cfg := awstest.Config(t, srv.Start(t), nil)
	arns, err := awsrollback.NewTasks(ecs.NewFromConfig(cfg), awsrollback.Options{}).ActiveTaskDefinitions(context.Background())
	if err != nil || !slices.Equal(arns, []string{"arn:td/a:1", "arn:td/b:1"}) || calls.Load() != 3 {
		t.Fatalf("ActiveTaskDefinitions: %v, %v after %d calls; want both pages after a retried throttle", arns, err, calls.Load())
	}
}

// A call that gets no answer ends at its deadline (Options.CallTimeout),
// retries included.
func TestCallsEndAtTheirDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	cfg := awstest.Config(t, srv.URL, nil)
	fns := awsrollback.NewFunctions(lambda.NewFromConfig(cfg), awsrollback.Options{CallTimeout: 200 * time.Millisecond})
	done := make(chan error, 1)
	go func() {
		_, err := fns.Alias(context.Background(), "deployer-gatekeeper", "live")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Alias: %v; want the deadline exceeded", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Alias did not end at its 200ms deadline")
	}
}

// An endpoint that cannot be reached keeps its network error, which the
// command line reports as exit 69.
func TestUnreachableKeepsTheNetworkError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	_ = l.Close()
	cfg := awstest.Config(t, closed, nil)
	ports := awsrollback.New(cfg, awsrollback.Options{})
	_, err = rollback.MakePlan(context.Background(), ports, rollback.Deployment{Prefix: "deployer-"})
	if cause, ok := netx.Unreachable(err); !ok || !strings.Contains(cause.Error(), "connection refused") {
		t.Fatalf("MakePlan: %v; want the refused connection", err)
	}
}
