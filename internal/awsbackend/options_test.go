package awsbackend

import (
	"context"
	"strings"
	"testing"
)

func TestFromEnv(t *testing.T) {
	env := map[string]string{
		"DEPLOYER_AWS_REGION":          "eu-west-1",
		"DEPLOYER_PREFIX":              "prod-",
		"DEPLOYER_ECS_SUBNETS":         "subnet-1, subnet-2,,",
		"DEPLOYER_ECS_SECURITY_GROUPS": "sg-1",
		"DEPLOYER_ECS_PUBLIC_IP":       "true",
		"DEPLOYER_PRINCIPALS":          `{"AROAEXAMPLE":"arn:aws:iam::123456789012:role/ci"}`,
	}
	o, err := FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	o = o.WithDefaults()
	if o.Region != "eu-west-1" || o.Prefix != "prod-" || o.Cluster != "prod-tasks" || o.LeaseTable != "prod-leases" ||
		o.TaskLogGroup != "/prod-tasks" || o.JournalLogGroup != "/prod-jobs" || !o.AssignPublicIP ||
		strings.Join(o.Subnets, ",") != "subnet-1,subnet-2" || o.Principals["AROAEXAMPLE"] == "" {
		t.Fatalf("options %+v", o)
	}
}

func TestFromEnvRejectsMalformedValues(t *testing.T) {
	env := map[string]string{"DEPLOYER_ECS_PUBLIC_IP": "yes please", "DEPLOYER_PRINCIPALS": "[1,2]"}
	_, err := FromEnv(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "DEPLOYER_ECS_PUBLIC_IP") || !strings.Contains(err.Error(), "DEPLOYER_PRINCIPALS") {
		t.Fatalf("error %v, want both problems named", err)
	}
}

func TestValidate(t *testing.T) {
	o := Options{Prefix: "bad prefix!", LaunchType: "LAMBDA", Principals: map[string]string{"AIDA": "not-an-arn"}}
	err := o.Validate()
	for _, want := range []string{"prefix", "launch type", "principal"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name the %s", err, want)
		}
	}
	if err := (Options{}).WithDefaults().Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestIdentify(t *testing.T) {
	o := Options{Principals: map[string]string{
		"AROAROLEID":   "arn:aws:iam::123456789012:role/ci/deployer",
		"AIDAUSERID":   "arn:aws:iam::123456789012:user/alice",
		"123456789012": "arn:aws:iam::123456789012:root",
	}}
	for _, tt := range []struct {
		sender, principal, source string
	}{
		{"AROAROLEID:github-run-42", "arn:aws:iam::123456789012:role/ci/deployer", "sqs_sender_id (session github-run-42)"},
		{"AIDAUSERID", "arn:aws:iam::123456789012:user/alice", "sqs_sender_id"},
	} {
		id, err := o.Identify(context.Background(), tt.sender)
		if err != nil || id.Principal != tt.principal || id.Source != tt.source {
			t.Errorf("Identify(%q) = %+v, %v", tt.sender, id, err)
		}
	}
	for _, sender := range []string{"", "AROAUNKNOWN:x", "AIDAUSERID2", "arn:aws:iam::123456789012:role/ci/deployer"} {
		if id, err := o.Identify(context.Background(), sender); err == nil {
			t.Errorf("Identify(%q) = %+v, want an error", sender, id)
		}
	}
}
