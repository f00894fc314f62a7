# Lock-out guard: the module refuses, at plan time, a change that would
# take from the CI caller its right to enqueue, sqs:SendMessage on the
# request queue.
#
# deployer upgrades itself through itself: CI sends the request that
# applies these modules. A caller policy without sqs:SendMessage on the
# request queue would apply fine, and then CI could not send the request
# that puts it back: only someone with administrator rights, by hand,
# could. So the policy is judged before it is attached (a precondition of
# aws_iam_role_policy.caller, and of the policy_json output when no role
# is given and the policy is attached elsewhere), the way IAM would judge
# the caller's SendMessage call:
#   - some Allow statement matches the action (Action, or NotAction not
#     matching it; IAM wildcards * and ?, case-insensitive) and the queue's
#     ARN (Resource, or NotResource not matching it; wildcards,
#     case-sensitive), and has no Condition: a conditional Allow may not
#     apply when CI calls, so it is not counted;
#   - no Deny statement matches both, with or without a Condition: a
#     conditional Deny may apply, so it is counted.
# The deployer module's outputs this policy names (request_queue_arn,
# log_group_arns, lease_table_arn, dead_letter_queue_arns) are derived
# from its prefix, region and account, never read from the resources: the
# policy's JSON is known at plan time — on a first apply too, and when the
# same apply changes a queue — so `terraform plan` fails, not the apply.
#
# terraform/modules/deployer/guards.tf holds the same logic for the
# gatekeeper's right to forward. Terraform has no user functions, so it
# is written out in both; test/terraform_upgrade_test.go plans both
# modules with each guarded right taken away in several ways and expects
# the plan to fail with these messages.

locals {
  # The statements of the caller policy: each Action/NotAction and
  # Resource/NotResource pattern turned into an anchored regular
  # expression (regex metacharacters escaped, * → .*, ? → .); actions are
  # compared lower-cased.
  guard_statements = [for st in flatten([try(jsondecode(data.aws_iam_policy_document.caller.json).Statement, [])]) : {
    effect       = try(st.Effect, "")
    conditional  = length(try(st.Condition, {})) > 0
    not_action   = !can(st.Action) && can(st.NotAction)
    actions      = [for p in flatten([try(st.Action, st.NotAction, [])]) : "^${replace(replace(replace(lower(p), "/[\\\\.+()|\\[\\]{}^$]/", "\\$0"), "*", ".*"), "?", ".")}$"]
    not_resource = !can(st.Resource) && can(st.NotResource)
    resources    = [for p in flatten([try(st.Resource, st.NotResource, [])]) : "^${replace(replace(replace(p, "/[\\\\.+()|\\[\\]{}^$]/", "\\$0"), "*", ".*"), "?", ".")}$"]
  }]

  # Does a statement of each effect cover SendMessage on the request
  # queue? (x != not_x: a Not* element matches what its patterns do not.)
  guard_allowed = anytrue([for st in local.guard_statements :
    st.effect == "Allow" && !st.conditional &&
    (anytrue([for p in st.actions : can(regex(p, "sqs:sendmessage"))]) != st.not_action) &&
    (anytrue([for p in st.resources : can(regex(p, var.request_queue_arn))]) != st.not_resource)
  ])
  guard_denied = anytrue([for st in local.guard_statements :
    st.effect == "Deny" &&
    (anytrue([for p in st.actions : can(regex(p, "sqs:sendmessage"))]) != st.not_action) &&
    (anytrue([for p in st.resources : can(regex(p, var.request_queue_arn))]) != st.not_resource)
  ])
  guard_ok = local.guard_allowed && !local.guard_denied

  guard_reason = local.guard_denied ? "a Deny statement refuses it" : "no Allow statement without a Condition grants it"
}

# The message, by the role the policy is attached to ("": the policy_json
# output; no role is named "").
locals {
  guard_message = { for who in concat(var.role_names, [null]) : who == null ? "" : who => <<-EOT
    The ci-caller module refuses this change: it would lock CI out of the request queue. The CI caller's policy (${who == null ? "the policy_json output" : "inline policy ${var.policy_name} of role ${who}"}) would no longer allow sqs:SendMessage on ${var.request_queue_arn}: ${local.guard_reason}.
    Without it CI cannot send any request, including the request that would restore it: deployer cannot be upgraded through itself without it. Keep sqs:SendMessage on the request queue (statement SendRequests, terraform/modules/ci-caller/main.tf).
  EOT
  }
}
