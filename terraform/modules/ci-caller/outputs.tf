output "policy_json" {
  description = "The caller policy, to attach where role_names cannot (users, permission sets)."
  value       = data.aws_iam_policy_document.caller.json
}
