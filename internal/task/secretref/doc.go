// Package secretref is the syntax of secret references: what the
// gatekeeper checks in the configuration (Check), what the local runner
// checks in a spec before recording it, and what package secret parses
// (Parse) before it reads a value inside the task. Each secret NAME
// travels into a task as DEPLOYER_SECRET_<NAME>=<reference> (VarPrefix).
//
// # References
//
//   - arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME — a Secrets
//     Manager secret, in the ARN's region (any aws partition);
//   - secretsmanager:NAME — a Secrets Manager secret by name, in the
//     default region;
//   - either of these followed by :JSON_KEY:VERSION_STAGE:VERSION_ID,
//     ECS's form, where any field may be empty
//     (secretsmanager:db/prod:password::);
//   - arn:aws:ssm:REGION:ACCOUNT:parameter/NAME — an SSM parameter, in
//     the ARN's region;
//   - /NAME — an SSM parameter by name, in the default region;
//   - env:NAME — an environment variable (letters, digits and '_', not
//     starting with a digit);
//   - file:/absolute/path — a file, by an absolute, clean path.
//
// A reference is at most MaxRefLen bytes. Package secret says what each
// form resolves to.
//
// # Guarantees
//
//   - Errors repeat nothing of what they were given, in full or in
//     part: a value pasted in place of a reference must not reach a
//     log. They are all ErrInvalid.
//   - Syntax only: the package reads nothing and links no AWS SDK
//     client, so any deployer process can check references at no cost
//     (deps_test.go fails when it, gatekeeper/policy, internal/task,
//     internal/runner/local, the resolver of package secret, client or
//     internal/cli/supervise links one). The forms are checked by hand
//     rather than with regular expressions, which would be compiled at
//     every process's start.
package secretref
