package secretref_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/internal/task/secretref"
)

var validRefs = []string{
	"arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/github-token-AbCdEf",
	"arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/db-AbCdEf:password::",
	"arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/db-AbCdEf::AWSPREVIOUS:",
	"arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/db-AbCdEf:::b2b2b2b2-2222-4222-8222-222222222222",
	"arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/db-AbCdEf:a key:AWSCURRENT:b2b2b2b2-2222-4222-8222-222222222222",
	"arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x",
	"arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:a+b=c.d@e_f-g",
	"secretsmanager:ci/github-token",
	"secretsmanager:x",
	"secretsmanager:ci/db:password::",
	"secretsmanager:ci/db::AWSPENDING:",
	"secretsmanager:" + strings.Repeat("n", 512),
	"arn:aws:ssm:eu-west-1:123456789012:parameter/ci/slack/url",
	"arn:aws:ssm:eu-west-1:123456789012:parameter/flat",
	"/ci/slack/url",
	"/x",
	"env:GITHUB_TOKEN",
	"env:_x1",
	"file:/run/secrets/token",
	"file:/",
}

func TestCheckValid(t *testing.T) {
	for _, ref := range validRefs {
		if err := secretref.Check(ref); err != nil {
			t.Errorf("Check(%q): %v", ref, err)
		}
	}
}

func TestCheckInvalid(t *testing.T) {
	cases := []struct{ ref, want string }{
		{"", "looks like a value was pasted"},
		{"hunter2-correct-horse", "looks like a value was pasted"},
		{"ghp_0123456789abcdefghijklmnopqrstuvwxyz", "looks like a value was pasted"},
		{"arn:aws:secretsmanager:us-east-1:123:secret:x", "not a valid Secrets Manager ARN"},
		{"arn:aws:secretsmanager:us-east-1:123456789012:secret:", "not a valid Secrets Manager ARN"},
		{"arn:aws:secretsmanager:us-east-1:123456789012:secret:x:key", "not a valid Secrets Manager ARN"},
		{"arn:aws:secretsmanager:us-east-1:123456789012:secret:x:a:b:c:d", "not a valid Secrets Manager ARN"},
		{"arn:aws:secretsmanager:us-east-1:123456789012:secret:x:a\nb::", "control characters"},
		{"arn:aws:secretsmanager:us-east-1:123456789012:secret:x:\xff::", "invalid UTF-8"},
		{"arn:aws:ssm:eu-west-1:123456789012:parameter/a b", "SSM parameter ARN"},
		{"arn:aws:s3:::bucket/key", "not a valid Secrets Manager ARN"},
		{"secretsmanager:", "secretsmanager:NAME"},
		{"secretsmanager:a b", "secretsmanager:NAME"},
		{"secretsmanager:x:key", "secretsmanager:NAME"},
		{"secretsmanager:" + strings.Repeat("n", 513), "secretsmanager:NAME"},
		{"secretsmanager:x:k\x00::", "control characters"},
		{"/", "SSM parameter name"},
		{"/a//b", "SSM parameter name"},
		{"/a b", "SSM parameter name"},
		{"env:", "env:NAME"},
		{"env:1X", "env:NAME"},
		{"env:A-B", "env:NAME"},
		{"file:", "absolute, clean path"},
		{"file:token.txt", "absolute, clean path"},
		{"file:/a/../b", "absolute, clean path"},
		{"file:/a/", "absolute, clean path"},
		{"file:/a\x00b", "absolute, clean path"},
		{"file:/a\u2028b", "absolute, clean path"},
		{"/" + strings.Repeat("a", secretref.MaxRefLen), "too long"},
	}
	for _, c := range cases {
		err := secretref.Check(c.ref)
		if err == nil {
			t.Errorf("Check(%q) accepted it", c.ref)
			continue
		}
		if !errors.Is(err, secretref.ErrInvalid) {
			t.Errorf("Check(%q) = %v, not ErrInvalid", c.ref, err)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check(%q) = %v, want it to mention %q", c.ref, err, c.want)
		}
		if len(c.ref) > 16 && strings.Contains(err.Error(), c.ref) {
			t.Errorf("Check(%q) = %v repeats the reference", c.ref, err)
		}
	}
}

// canary marks fuzz inputs: no error of Check may contain it.
const canary = "Qz7canaryQz7"

// FuzzCheck: Check never panics, is deterministic, fails only with
// ErrInvalid, and repeats nothing of what it is given (at most a short
// piece that happens to be part of its own fixed sentences).
func FuzzCheck(f *testing.F) {
	for _, ref := range validRefs {
		f.Add(ref)
	}
	for _, ref := range []string{"", "hunter2", "arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME", "secretsmanager:a:b:c:d", "file:/a/../b", "env:1", "/a//b"} {
		f.Add(ref)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		err := secretref.Check(ref)
		if again := secretref.Check(ref); (err == nil) != (again == nil) || err != nil && err.Error() != again.Error() {
			t.Fatalf("Check(%q) = %v, then %v", ref, err, again)
		}
		if err != nil {
			if !errors.Is(err, secretref.ErrInvalid) {
				t.Fatalf("Check(%q) = %v, not ErrInvalid", ref, err)
			}
			if len(ref) > 16 && strings.Contains(err.Error(), ref) && !isOwnText(ref) {
				t.Fatalf("Check(%q) = %v repeats it", ref, err)
			}
		}
		for _, marked := range []string{canary + ref, ref + canary, ref[:len(ref)/2] + canary + ref[len(ref)/2:]} {
			if err := secretref.Check(marked); err != nil && strings.Contains(err.Error(), "canary") {
				t.Fatalf("Check(%q) = %v repeats part of it", marked, err)
			}
		}
	})
}

// isOwnText reports whether s is part of a sentence Check says whatever
// it is given.
func isOwnText(s string) bool {
	for _, bad := range []string{"", "arn:", "arn:aws:secretsmanager:x", "secretsmanager:", "secretsmanager:x:\n::", "/", "env:", "file:", "/" + strings.Repeat("a", secretref.MaxRefLen)} {
		if err := secretref.Check(bad); err != nil && strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}
