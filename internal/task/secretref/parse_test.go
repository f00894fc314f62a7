package secretref_test

import (
	"errors"
	"testing"

	"github.com/deployerhq/deployer/internal/task/secretref"
)

func TestParse(t *testing.T) {
	const (
		smARN  = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/db-AbCdEf"
		ssmARN = "arn:aws:ssm:eu-west-1:123456789012:parameter/ci/slack/url"
		id     = "b2b2b2b2-2222-4222-8222-222222222222"
	)
	cases := []struct {
		ref  string
		want secretref.Reference
	}{
		{smARN, secretref.Reference{Kind: secretref.KindSecretsManager, ID: smARN, Region: "us-east-1"}},
		{smARN + ":password:AWSPREVIOUS:" + id, secretref.Reference{Kind: secretref.KindSecretsManager, ID: smARN, Region: "us-east-1", JSONKey: "password", VersionStage: "AWSPREVIOUS", VersionID: id}},
		{smARN + ":::", secretref.Reference{Kind: secretref.KindSecretsManager, ID: smARN, Region: "us-east-1"}},
		{"arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x", secretref.Reference{Kind: secretref.KindSecretsManager, ID: "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x", Region: "us-gov-west-1"}},
		{"secretsmanager:ci/db", secretref.Reference{Kind: secretref.KindSecretsManager, ID: "ci/db"}},
		{"secretsmanager:ci/db:a key::", secretref.Reference{Kind: secretref.KindSecretsManager, ID: "ci/db", JSONKey: "a key"}},
		{"secretsmanager:ci/db::AWSPENDING:", secretref.Reference{Kind: secretref.KindSecretsManager, ID: "ci/db", VersionStage: "AWSPENDING"}},
		{ssmARN, secretref.Reference{Kind: secretref.KindSSM, ID: ssmARN, Region: "eu-west-1"}},
		{"/ci/slack/url", secretref.Reference{Kind: secretref.KindSSM, ID: "/ci/slack/url"}},
		{"env:GITHUB_TOKEN", secretref.Reference{Kind: secretref.KindEnv, ID: "GITHUB_TOKEN"}},
		{"file:/run/secrets/token", secretref.Reference{Kind: secretref.KindFile, ID: "/run/secrets/token"}},
	}
	for _, c := range cases {
		got, err := secretref.Parse(c.ref)
		if err != nil || got != c.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", c.ref, got, err, c.want)
		}
		if aws := c.want.Kind == secretref.KindSecretsManager || c.want.Kind == secretref.KindSSM; secretref.ReadsAWS(c.ref) != aws {
			t.Errorf("ReadsAWS(%q) = %t, want %t", c.ref, !aws, aws)
		}
	}
	if secretref.ReadsAWS("arn:aws:secretsmanager:nope") {
		t.Error("ReadsAWS of an invalid reference is true")
	}
}

func TestParseInvalid(t *testing.T) {
	for _, ref := range []string{
		"",
		"secretsmanager:x:key",
		"secretsmanager:x:k\x00::",
		"arn:aws:secretsmanager:us-east-1:123456789012:secret:x:\xff::",
		"env:1X",
		"file:token",
	} {
		got, err := secretref.Parse(ref)
		if !errors.Is(err, secretref.ErrInvalid) || got != (secretref.Reference{}) {
			t.Errorf("Parse(%q) = %+v, %v; want the zero Reference and ErrInvalid", ref, got, err)
		}
	}
}
