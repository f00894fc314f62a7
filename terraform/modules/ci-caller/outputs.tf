output "policy_json" {
  description = "The caller policy, to attach where role_names cannot (users, permission sets)."
  value       = data.aws_iam_policy_document.caller.json
  # Attached elsewhere (no role_names), the policy still keeps CI's right
  # to enqueue (guards.tf); with role_names, their policies say so.
  precondition {
    condition     = length(var.role_names) > 0 || local.guard_ok
    error_message = local.guard_message[""]
  }
}
