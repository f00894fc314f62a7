# Releases: what an upgrade rolls forward and `deployer rollback` rolls
# back (docs/upgrading.md).
#
# Each apply that changes the Lambda packages, the task definitions or the
# worker image is a release, named by var.release or, by default, by its
# content. A release
#   - publishes a new version of each Lambda (publish = true), described
#     "deployer release <R>", and moves each function's alias "live" to
#     it: the request queue's event source mapping, the task log group's
#     subscription filter and the logshipper's invoke permission all
#     name the alias, never $LATEST, so moving the alias back is a
#     rollback of the code that runs;
#   - registers a new revision of every task definition the module makes,
#     with DEPLOYER_RELEASE=<R> in its container's environment and tags
#     deployer:release=<R> and deployer:deployment=<prefix>. skip_destroy
#     keeps the previous revisions ACTIVE (Terraform forgets them instead
#     of deregistering them), so a rollback has something to run; the
#     worker service names its revision by ARN.
#
# After a rollback, Terraform's state still names the newer release: the
# next plan moves the aliases and the worker service forward again. Fix
# what failed and apply a new release rather than applying the old plan.

locals {
  release = coalesce(var.release, substr(sha256(join("\n", [
    filesha256(var.gatekeeper_zip),
    filesha256(var.logshipper_zip),
    jsonencode(local.task_definitions),
    coalesce(var.worker_image, ""),
  ])), 0, 12))

  release_description = "deployer release ${local.release}"

  # The tags of every task definition the module registers: rollback
  # finds a deployment's families by deployer:deployment (the containers'
  # families are named by their task_definitions keys, not the prefix).
  release_tags = merge(var.tags, {
    "deployer:release"    = local.release
    "deployer:deployment" = var.prefix
  })
}
