// Package secret resolves secret references inside a task: the
// deployer-task entrypoint turns each DEPLOYER_SECRET_<NAME>=<reference>
// of its environment into NAME=<value> for the script only (Environ).
// The syntax of references is package secretref's, with which the
// gatekeeper checks every reference of the configuration before anything
// uses it. Programs hand a *Resolver to package task and to the local
// runner's supervisor as task.Secrets.
//
// This package links no AWS SDK client: a Resolver reads Secrets Manager
// and SSM through its Fetcher (Resolver.AWS), which package
// internal/task/secret/awssecret implements with the SDK. deployer-task
// (on ECS) and Go programs through awsclient.RunTaskProcess set it. The
// embedded backend's supervisors (deployer-supervisor, deployer
// __supervise), whose processes the SDK's package init would slow by
// milliseconds at start (docs/performance.md), have those references
// read by deployer-aws in a helper process (package secretproc).
// Without a Fetcher (client.RunTaskProcess), they fail with ErrNoAWS;
// env: and file: resolve.
//
// # References
//
// What each form of reference (secretref) resolves to:
//
//   - arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME — a Secrets
//     Manager secret's SecretString, read in the ARN's region;
//   - secretsmanager:NAME — a Secrets Manager secret by name, in the
//     default region (AWS_REGION);
//   - either of these followed by :JSON_KEY:VERSION_STAGE:VERSION_ID,
//     ECS's form, where an empty field takes its default
//     (secretsmanager:db/prod:password::): JSON_KEY picks one top-level
//     key of a JSON object SecretString (a string's value, or the JSON
//     text of any other value), VERSION_STAGE and VERSION_ID pick the
//     version (AWSCURRENT when both are empty);
//   - arn:aws:ssm:REGION:ACCOUNT:parameter/NAME — an SSM parameter's
//     value, decrypted, in the ARN's region;
//   - /NAME — an SSM parameter by name, in the default region;
//   - env:NAME — the variable NAME of the environment of the process
//     resolving (for the local backend, the runner's);
//   - file:/absolute/path — the file's contents, one trailing newline
//     trimmed, at most MaxValueLen bytes.
//
// A value holding a NUL byte is refused, whatever its source: no
// environment can carry it.
//
// # Guarantees
//
//   - No value is ever part of an error: errors name the variable and the
//     reference, and a syntax error repeats no part of the reference
//     (a value pasted in place of a reference must not reach a log).
//     JSON and SDK decoding errors, which quote what they decode, are
//     replaced by a sentence.
//   - Errors are classified: ErrInvalid (syntax), ErrNotFound (secret,
//     version, parameter, JSON key, variable or file missing), ErrDenied
//     (IAM or KMS refused, file unreadable), ErrNoAWS (a Secrets Manager
//     or SSM reference without a Fetcher); anything else (AWS
//     unreachable, throttling past the retries of awsx) is wrapped.
//   - The Fetcher is called only when a reference needs AWS, and once per
//     secret version or parameter in one Environ (two JSON keys of one
//     secret are one read). A task whose secrets are all env: and file:
//     needs no AWS configuration at all.
package secret
