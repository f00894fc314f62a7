package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// A failed init says why on stderr and exits 1 without starting; a good
// one calls no AWS API and starts a handler that takes the subscription's
// events, here the CONTROL_MESSAGE a new filter sends.
func TestRun(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDLAMBDA")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1") // nothing listens: the init must not call
	var started []func(context.Context, events.CloudwatchLogsEvent) error
	start := func(h any) {
		f, ok := h.(func(context.Context, events.CloudwatchLogsEvent) error)
		if !ok {
			t.Fatalf("started %T, want a CloudWatch Logs event handler", h)
		}
		started = append(started, f)
	}

	var stderr bytes.Buffer
	bad := map[string]string{"DEPLOYER_AWS_REGION": "us-east-1", "DEPLOYER_PRINCIPALS": "{"}
	if code := run(context.Background(), func(k string) string { return bad[k] }, &stderr, start); code != 1 || len(started) != 0 ||
		!strings.HasPrefix(stderr.String(), "logshipper: init: DEPLOYER_PRINCIPALS") {
		t.Fatalf("exit %d, %d starts; stderr:\n%s", code, len(started), stderr.String())
	}
	stderr.Reset()
	bad = map[string]string{"DEPLOYER_AWS_REGION": "us-east-1", "DEPLOYER_ECS_LAUNCH_TYPE": "BALLOON"}
	if code := run(context.Background(), func(k string) string { return bad[k] }, &stderr, start); code != 1 || len(started) != 0 ||
		!strings.Contains(stderr.String(), "BALLOON") {
		t.Fatalf("exit %d, %d starts; stderr:\n%s", code, len(started), stderr.String())
	}

	stderr.Reset()
	good := map[string]string{"DEPLOYER_AWS_REGION": "us-east-1"}
	if code := run(context.Background(), func(k string) string { return good[k] }, &stderr, start); code != 0 || len(started) != 1 {
		t.Fatalf("exit %d, %d starts; stderr:\n%s", code, len(started), stderr.String())
	}
	raw, err := os.ReadFile("../../logshipper/testdata/control-message.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.CloudwatchLogsEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	if err := started[0](context.Background(), ev); err != nil {
		t.Fatalf("handling a control message: %v", err)
	}
}
