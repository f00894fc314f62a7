package policy

import "testing"

func TestCallerMatching(t *testing.T) {
	const (
		acct    = "123456789012"
		session = "arn:aws:sts::123456789012:assumed-role/ci-deployer/gh-run-42"
	)
	tests := []struct {
		pattern, principal string
		want               bool
	}{
		{"*", "user:anyone", true},
		{"*", session, true},
		{"user:alice", "user:alice", true},
		{"user:alice", "user:alice2", false},
		{"user:alice", "user:Alice", false},
		{"user:a*", "user:alice", true},
		{"user:*", session, false},
		{"arn:aws:iam::" + acct + ":role/ci-*", "arn:aws:iam::" + acct + ":role/ci-deployer", true},
		{"arn:aws:iam::" + acct + ":role/ci-*", "arn:aws:iam::" + acct + ":role/prod-deployer", false},
		{"arn:aws:iam::" + acct + ":role/ci-*", "arn:aws:iam::999999999999:role/ci-deployer", false},
		// '*' does not cross ARN segments.
		{"arn:aws:iam::*:role/ci-*", "arn:aws:iam::" + acct + ":role/ci-x", true},
		{"arn:aws:iam::*:role/ci-*", "arn:aws:iam::" + acct + ":user/ci-x", false},
		{"arn:aws:iam::" + acct + ":*", "arn:aws:iam::" + acct + ":role/anything", true},
		{"arn:aws:iam::" + acct + ":role/ci-*", "arn:aws:iam::" + acct + ":role/ci-x:extra", false},
		// Sessions of an assumed role match patterns of the role.
		{"arn:aws:iam::" + acct + ":role/ci-*", session, true},
		{"arn:aws:iam::" + acct + ":role/ci-deployer", session, true},
		{"arn:aws:iam::" + acct + ":role/ci-deployer-2", session, false},
		{"arn:aws:iam::" + acct + ":role/ci", session, false},
		{"arn:aws:iam::999999999999:role/ci-deployer", session, false},
		{"arn:aws:iam::" + acct + ":role/*", session, true},
		{"arn:aws:iam::" + acct + ":user/ci-deployer", session, false},
		// Role names are unique whatever their path, so a path with a
		// literal name matches; a name glob under a path cannot be checked.
		{"arn:aws:iam::" + acct + ":role/pipelines/ci-deployer", session, true},
		{"arn:aws:iam::" + acct + ":role/pipelines/ci-*", session, false},
		{"arn:aws:iam::" + acct + ":role/pipelines/ci-*", "arn:aws:iam::" + acct + ":role/pipelines/ci-x", true},
		// Patterns of the session ARN itself.
		{"arn:aws:sts::" + acct + ":assumed-role/ci-deployer/*", session, true},
		{"arn:aws:sts::" + acct + ":assumed-role/ci-deployer/gh-*", session, true},
		{"arn:aws:sts::" + acct + ":assumed-role/ci-deployer/local-*", session, false},
		// Other partitions.
		{"arn:aws-us-gov:iam::" + acct + ":role/ci-*", "arn:aws-us-gov:sts::" + acct + ":assumed-role/ci-x/s", true},
		{"arn:aws:iam::" + acct + ":role/ci-*", "arn:aws-us-gov:sts::" + acct + ":assumed-role/ci-x/s", false},
		// Malformed sessions do not stand for a role.
		{"arn:aws:iam::" + acct + ":role/ci-*", "arn:aws:sts::" + acct + ":assumed-role/ci-x", false},
		{"arn:aws:iam::" + acct + ":role/ci-*", "arn:aws:sts:us-east-1:" + acct + ":assumed-role/ci-x/s", false},
		// Regular expression characters are literal.
		{"user:a.c", "user:abc", false},
		{"user:a+", "user:aa", false},
	}
	for _, tt := range tests {
		var ps problems
		cs := newCompileCache().callers([]string{tt.pattern}, "p", &ps)
		if len(ps) > 0 {
			t.Fatalf("%s: %v", tt.pattern, ps.err())
		}
		if got := cs.allows(tt.principal); got != tt.want {
			t.Errorf("pattern %s, principal %s: allows = %v, want %v", tt.pattern, tt.principal, got, tt.want)
		}
	}
	var absent *callerSet
	if !absent.allows("user:x") {
		t.Error("an absent list must allow any caller")
	}
	var ps problems
	if newCompileCache().callers([]string{}, "p", &ps).allows("user:x") {
		t.Error("an empty list must allow nobody")
	}
}
