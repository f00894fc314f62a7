// Package awsrollback is the AWS adapter of the rollback ports: Functions
// on Lambda (GetAlias, ListVersionsByFunction page by page, UpdateAlias
// with the alias's revision id) and Tasks on ECS (ListTaskDefinitions of
// the ACTIVE revisions page by page, DescribeTaskDefinition with its
// tags, DeregisterTaskDefinition, DescribeServices, UpdateService).
//
// Every call has a deadline (Options.CallTimeout, each page of a listing
// its own) and is retried as every AWS call of deployer is, by the
// retryer of the awsx configuration it is given. Errors are the port's:
// AccessDeniedException is a *rollback.DeniedError naming the IAM action
// and the resource; missing functions, aliases, revisions, clusters and
// services are rollback.ErrNotFound; a stale alias revision id is
// rollback.ErrConflict. A network that cannot be reached keeps its
// net.OpError, which the command line reports as exit 69.
package awsrollback
