// Package awssecret reads Secrets Manager secrets and SSM parameters with
// the AWS SDK for package secret's Resolver: Fetcher is its
// secret.Fetcher. It is a package of its own so that the Resolver links
// no AWS SDK client, whose package init costs every process that links
// it milliseconds at start (docs/performance.md): only the programs that
// resolve AWS secrets import it (deployer-task, deployer-aws for the
// local supervisors through package secretproc, awsclient.RunTaskProcess).
//
//	r := &secret.Resolver{AWS: &awssecret.Fetcher{}}
//
// # Guarantees
//
//   - An ARN's region wins: the secret or parameter is read in it; a
//     name is read in the default region (Fetcher.Config.Region, else
//     AWS_REGION and the shared configuration's).
//   - Clients are created only when a reference needs them, one per
//     region, with awsx's configuration: the default credential chain,
//     AWS_ENDPOINT_URL and the per-service AWS_ENDPOINT_URL_SECRETS_MANAGER
//     and AWS_ENDPOINT_URL_SSM, retries with backoff.
//   - AWS's errors are translated: a missing secret, version or parameter
//     is secret.ErrNotFound, IAM or KMS refusing is secret.ErrDenied.
//     SDK decoding errors, which may quote the answer and so the value,
//     are replaced by a sentence. A binary secret (no SecretString) is an
//     error.
package awssecret
