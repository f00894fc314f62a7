// Package rollback takes an AWS deployment back to its previous release,
// as "deployer rollback" does after an upgrade that fails "deployer
// doctor".
//
// The Terraform module names a release on everything it deploys: each
// published version of the gatekeeper and logshipper Lambdas is described
// "deployer release <R>" and served through the alias live; every task
// definition revision is tagged deployer:release=<R> and
// deployer:deployment=<prefix> and kept ACTIVE after an upgrade
// (skip_destroy); the worker service pins a revision. MakePlan reads that
// state through two small ports (Functions, Tasks) and computes, without
// changing anything, which aliases move from which version to which,
// which revision the worker service moves to, and which revisions are
// deregistered; Apply makes those changes in that order. The AWS adapter
// is awsrollback; rollbacktest holds an in-memory one and the suite every
// adapter passes.
//
// # Guarantees
//
//   - Nothing changes before the whole plan is known, and a dry run is
//     the plan alone.
//   - Idempotent: the aliases a rollback moves say so in their
//     description ("rolled back from release R to release P by deployer
//     rollback"), so a second run finishes the first (after an
//     interruption) instead of going back another release; going further
//     back takes naming the release (Deployment.To).
//   - A release an earlier rollback retired (its task definitions
//     deregistered) is never the default target again.
//   - A task definition family never loses its last ACTIVE revision, and
//     the worker service moves before the revisions are deregistered.
//   - An alias changed by someone else between planning and applying is
//     not overwritten: the update carries the alias's revision id and
//     fails with ErrConflict.
package rollback
