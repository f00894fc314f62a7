package doctor

import (
	"context"

	"github.com/deployerhq/deployer/producer"
)

// Causes of a failed check, each with its exit code: doctor exits with
// the code of its first failed check (in check order). docs/exit-codes.md
// and docs/doctor.md list them; a test keeps the first in step.
const (
	// CauseUnreachable: the backend could not be reached at all (the AWS
	// endpoint did not answer).
	CauseUnreachable = "unreachable"
	// CauseQueueMissing: a queue of the deployment does not exist.
	CauseQueueMissing = "queue_missing"
	// CauseGatekeeperNotAnswering: the gatekeeper did not answer a
	// describe request in time.
	CauseGatekeeperNotAnswering = "gatekeeper_not_answering"
	// CauseNothingAllowed: the gatekeeper says the caller may run nothing
	// (or a --container it may not run).
	CauseNothingAllowed = "nothing_allowed"
	// CauseTaskDefinitionMissing: a canary's task could not start because
	// what defines it is missing (an ECS task definition that does not
	// exist or is inactive, a scripts directory that is gone).
	CauseTaskDefinitionMissing = "task_definition_missing"
	// CausePermissionMissing: a call was denied, or a deployment role's
	// IAM policy lacks a right it needs.
	CausePermissionMissing = "permission_missing"
	// CauseCanaryFailed: a canary did not report a deployer-task version:
	// never queued, never started, exited non-zero, or printed no version.
	CauseCanaryFailed = "canary_failed"
)

// Cause is a named cause and the exit code it ends doctor with.
type Cause struct {
	Name string
	Code int
}

// Causes lists every cause, in the order of their exit codes.
var Causes = []Cause{
	{CauseUnreachable, producer.ExitUnavailable},
	{CauseQueueMissing, 80},
	{CauseGatekeeperNotAnswering, 81},
	{CauseNothingAllowed, 82},
	{CauseTaskDefinitionMissing, 83},
	{CausePermissionMissing, 84},
	{CauseCanaryFailed, 85},
}

// CauseCode is the exit code of a cause (1 for an unknown one).
func CauseCode(name string) int {
	for _, c := range Causes {
		if c.Name == name {
			return c.Code
		}
	}
	return 1
}

// PermissionChecker checks, from the deployment's IAM policies, that its
// roles hold the rights they need (the gatekeeper's to forward run
// orders, the callers' to enqueue, ...). Each Finding is a right missing;
// an error means the check could not be made. The AWS backend's checker
// is wired through Options.Permissions; the embedded backend has none.
type PermissionChecker interface {
	Check(ctx context.Context) ([]Finding, error)
}

// Finding is one right a deployment role lacks, or one the check could
// not judge.
type Finding struct {
	// Subject is who lacks it: a role, a policy.
	Subject string
	// Message says which right is missing, on what.
	Message string
	// Fix says how to grant it; optional.
	Fix string
	// Unchecked marks a right the check could not judge (IAM would not
	// let it read a policy, or a condition it cannot evaluate): said,
	// never a failure.
	Unchecked bool
}
