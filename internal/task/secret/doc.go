// Package secret resolves secret references inside a task: the
// deployer-task entrypoint turns each DEPLOYER_SECRET_<NAME>=<reference>
// of its environment into NAME=<value> for the script only (Environ), and
// the gatekeeper checks every reference of the configuration with Check
// before anything uses it.
//
// # References
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
//     reference, and Check's errors repeat no part of what it was given
//     (a value pasted in place of a reference must not reach a log).
//     JSON and SDK decoding errors, which quote what they decode, are
//     replaced by a sentence.
//   - Errors are classified: ErrInvalid (syntax), ErrNotFound (secret,
//     version, parameter, JSON key, variable or file missing), ErrDenied
//     (IAM or KMS refused, file unreadable); anything else (AWS
//     unreachable, throttling past the retries of awsx) is wrapped.
//   - AWS clients are created only when a reference needs them, with
//     awsx's configuration: the default credential chain, AWS_ENDPOINT_URL
//     and the per-service AWS_ENDPOINT_URL_SECRETS_MANAGER and
//     AWS_ENDPOINT_URL_SSM, retries with backoff. A task whose secrets are
//     all env: and file: needs no AWS configuration at all.
package secret
