# Lock-out guard: the module refuses, at plan time, a change that would
# take from the gatekeeper its right to forward, sqs:SendMessage on each
# lane's run queue.
#
# deployer upgrades itself through itself: CI asks for the job that
# applies this module, the gatekeeper forwards it to a run queue, a worker
# runs it. A change that takes the gatekeeper's sqs:SendMessage away would
# apply fine and then strand every request after it in the request queue,
# including the one that would restore the right. So the policy is judged
# before it is attached (a precondition of aws_iam_role_policy.lambda in
# iam.tf), the way IAM would judge the gatekeeper's SendMessage call:
#   - some Allow statement matches the action (Action, or NotAction not
#     matching it; IAM wildcards * and ?, case-insensitive) and the queue's
#     ARN (Resource, or NotResource not matching it; wildcards,
#     case-sensitive), and has no Condition: a conditional Allow may not
#     apply when the gatekeeper calls, so it is not counted;
#   - no Deny statement matches both, with or without a Condition: a
#     conditional Deny may apply, so it is counted.
# The ARNs the policy names and the run queues' ARNs it is judged against
# are derived from the prefix, region and account (main.tf), never read
# from the resources: the policy's JSON and the ARNs are known at plan
# time — on a first apply too, and when the same apply changes a queue —
# so `terraform plan` fails, not the apply.
#
# terraform/modules/ci-caller/guards.tf holds the same logic for the CI
# caller's right to enqueue. Terraform has no user functions, so it is
# written out in both; test/terraform_upgrade_test.go plans both modules
# with each guarded right taken away in several ways and expects the plan
# to fail with these messages.

locals {
  # The statements of the gatekeeper's policy, as its role gets it: each
  # Action/NotAction and Resource/NotResource pattern turned into an
  # anchored regular expression (regex metacharacters escaped, * → .*,
  # ? → .); actions are compared lower-cased.
  gatekeeper_guard_statements = [for st in flatten([try(jsondecode(local.lambda_policies["gatekeeper"]).Statement, [])]) : {
    effect       = try(st.Effect, "")
    conditional  = length(try(st.Condition, {})) > 0
    not_action   = !can(st.Action) && can(st.NotAction)
    actions      = [for p in flatten([try(st.Action, st.NotAction, [])]) : "^${replace(replace(replace(lower(p), "/[\\\\.+()|\\[\\]{}^$]/", "\\$0"), "*", ".*"), "?", ".")}$"]
    not_resource = !can(st.Resource) && can(st.NotResource)
    resources    = [for p in flatten([try(st.Resource, st.NotResource, [])]) : "^${replace(replace(replace(p, "/[\\\\.+()|\\[\\]{}^$]/", "\\$0"), "*", ".*"), "?", ".")}$"]
  }]

  # Per run queue: does a statement of each effect cover SendMessage on it?
  # (x != not_x: a Not* element matches what its patterns do not.)
  gatekeeper_guard = { for lane, arn in local.lane_queue_arns : arn => {
    allowed = anytrue([for st in local.gatekeeper_guard_statements :
      st.effect == "Allow" && !st.conditional &&
      (anytrue([for p in st.actions : can(regex(p, "sqs:sendmessage"))]) != st.not_action) &&
      (anytrue([for p in st.resources : can(regex(p, arn))]) != st.not_resource)
    ])
    denied = anytrue([for st in local.gatekeeper_guard_statements :
      st.effect == "Deny" &&
      (anytrue([for p in st.actions : can(regex(p, "sqs:sendmessage"))]) != st.not_action) &&
      (anytrue([for p in st.resources : can(regex(p, arn))]) != st.not_resource)
    ])
  } }

  # The run queues the gatekeeper could no longer forward to, and why.
  gatekeeper_locked_out = [for arn, g in local.gatekeeper_guard :
    "${arn} (${g.denied ? "a Deny statement refuses it" : "no Allow statement without a Condition grants it"})"
    if g.denied || !g.allowed
  ]

  gatekeeper_lockout_message = <<-EOT
    The deployer module refuses this change: it would lock the gatekeeper out of the run queues. The gatekeeper's policy (inline policy deployer-gatekeeper of role ${var.prefix}gatekeeper) would no longer allow sqs:SendMessage on:
      ${join("\n  ", local.gatekeeper_locked_out)}
    Without it the gatekeeper cannot forward any request to a worker, including the request that would restore it: deployer cannot be upgraded through itself without it. Keep sqs:SendMessage on every lane's run queue (statement WriteRunOrders, terraform/modules/deployer/iam.tf).
  EOT
}
