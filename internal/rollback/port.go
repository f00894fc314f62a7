package rollback

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// What the Terraform module (terraform/modules/deployer) names and tags,
// and rollback reads.
const (
	// Alias is the alias of each Lambda function that the event source
	// mapping, the subscription filter and the permission target.
	Alias = "live"
	// DescriptionPrefix starts the description of every published version
	// of both functions: "deployer release <R>".
	DescriptionPrefix = "deployer release "
	// TagRelease is the release a task definition revision belongs to.
	TagRelease = "deployer:release"
	// TagDeployment is the prefix of the deployment a task definition
	// revision belongs to (container families are not prefixed, so this
	// tag is how rollback finds them).
	TagDeployment = "deployer:deployment"
)

// ReleaseOf returns the release a version's description names ("deployer
// release R" → "R"), or "" when it names none.
func ReleaseOf(description string) string {
	r, ok := strings.CutPrefix(description, DescriptionPrefix)
	if !ok {
		return ""
	}
	return strings.TrimSpace(r)
}

// Version is a published version of a Lambda function.
type Version struct {
	// Number is the version number (1, 2, ...).
	Number int
	// Description is the version's description, fixed when it was
	// published.
	Description string
}

// Release is the release the version's description names, or "".
func (v Version) Release() string { return ReleaseOf(v.Description) }

// AliasTarget is what an alias points at.
type AliasTarget struct {
	// Version is the version number, 0 for $LATEST.
	Version int
	// Description is the alias's own description.
	Description string
	// RevisionID identifies this state of the alias: an update that
	// carries it fails with ErrConflict when the alias changed since.
	RevisionID string
}

// AliasUpdate is where UpdateAlias points an alias.
type AliasUpdate struct {
	// Version is the published version to point at.
	Version int
	// Description replaces the alias's description.
	Description string
	// RevisionID, when set, makes the update fail with ErrConflict if
	// the alias is no longer in that state.
	RevisionID string
}

// Functions is the Lambda side of a deployment.
type Functions interface {
	// Alias returns what alias name of function points at: ErrNotFound
	// when the function or the alias does not exist.
	Alias(ctx context.Context, function, name string) (AliasTarget, error)
	// Versions returns every published version of function ($LATEST is
	// not one), lowest number first: ErrNotFound when the function does
	// not exist.
	Versions(ctx context.Context, function string) ([]Version, error)
	// UpdateAlias points alias name of function at a published version.
	UpdateAlias(ctx context.Context, function, name string, to AliasUpdate) error
}

// TaskDefinition is one revision of an ECS task definition family.
type TaskDefinition struct {
	ARN      string
	Family   string
	Revision int
	// Active is false once the revision is deregistered (INACTIVE).
	Active bool
	// Tags are the revision's tags.
	Tags map[string]string
}

// Release is the revision's deployer:release tag, or "".
func (d TaskDefinition) Release() string { return d.Tags[TagRelease] }

// Name is "family:revision".
func (d TaskDefinition) Name() string { return d.Family + ":" + strconv.Itoa(d.Revision) }

// Tasks is the ECS side of a deployment: task definitions and the worker
// service.
type Tasks interface {
	// ActiveTaskDefinitions returns the ARN of every ACTIVE task
	// definition revision in the region, of every family.
	ActiveTaskDefinitions(ctx context.Context) ([]string, error)
	// DescribeTaskDefinition returns a revision with its tags:
	// ErrNotFound when there is no such revision.
	DescribeTaskDefinition(ctx context.Context, arn string) (TaskDefinition, error)
	// DeregisterTaskDefinition makes a revision INACTIVE; deregistering
	// an INACTIVE revision is not an error.
	DeregisterTaskDefinition(ctx context.Context, arn string) error
	// ServiceTaskDefinition returns the task definition (an ARN, or
	// "family:revision") service of cluster runs: ErrNotFound when the
	// cluster or an active service of that name does not exist.
	ServiceTaskDefinition(ctx context.Context, cluster, service string) (string, error)
	// UpdateService makes service of cluster run the task definition
	// arn; ECS replaces its tasks by a rolling deployment.
	UpdateService(ctx context.Context, cluster, service, arn string) error
}

// Ports are what a rollback plans with and applies through.
type Ports struct {
	Functions Functions
	Tasks     Tasks
}

// Errors of the ports and of planning. Adapters wrap their backend's
// errors in them, so callers never import an SDK to branch.
var (
	// ErrNotFound: a function, alias, task definition, cluster or
	// service does not exist.
	ErrNotFound = errors.New("not found")
	// ErrDenied: the caller may not make a call (see DeniedError).
	ErrDenied = errors.New("access denied")
	// ErrConflict: an alias changed between planning and updating it.
	ErrConflict = errors.New("changed since it was read")
	// ErrNothingToRollBack: the deployment has no release to roll back
	// to, or not the one asked for.
	ErrNothingToRollBack = errors.New("nothing to roll back to")
)

// DeniedError is a call the caller may not make. It matches ErrDenied.
type DeniedError struct {
	// Action is the IAM action ("lambda:UpdateAlias").
	Action string
	// Resource names what it was called on (an ARN, a function name,
	// "cluster/service").
	Resource string
	// Err is the backend's error.
	Err error
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("not allowed to call %s on %s: %v", e.Action, e.Resource, e.Err)
}

// Is makes errors.Is(err, ErrDenied) true.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

// Unwrap returns the backend's error.
func (e *DeniedError) Unwrap() error { return e.Err }

// ParseTaskDefinition returns the family and revision of a task
// definition ARN ("arn:aws:ecs:...:task-definition/family:3") or name
// ("family:3"); ok is false when ref names no revision.
func ParseTaskDefinition(ref string) (family string, revision int, ok bool) {
	if i := strings.LastIndex(ref, "task-definition/"); i >= 0 {
		ref = ref[i+len("task-definition/"):]
	}
	family, rev, found := strings.Cut(ref, ":")
	if !found || family == "" {
		return "", 0, false
	}
	n, err := strconv.Atoi(rev)
	if err != nil || n < 1 {
		return "", 0, false
	}
	return family, n, true
}
