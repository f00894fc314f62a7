output "prefix" {
  description = "The resource name prefix: what callers pass as --prefix (or DEPLOYER_PREFIX)."
  value       = var.prefix
}

output "region" {
  description = "The region: what callers pass as --region."
  value       = local.region
}

output "environment" {
  description = "The environment of every component (cmd/worker, deployer up --backend aws) for this deployment."
  value       = local.environment
}

output "request_queue_arn" {
  description = "ARN of the request queue callers send to (the ci-caller module's request_queue_arn). Like the other ARN outputs, derived from the prefix, region and account: known at plan time, so the ci-caller module's lock-out guard judges its policy at plan time."
  value       = local.request_queue_arn
}

output "dead_letter_queue_arns" {
  description = "ARNs of the request and run dead-letter queues (the ci-caller module's dead_letter_queue_arns, for operators)."
  value       = local.dead_letters
}

output "log_group_arns" {
  description = "ARNs of the task log group and the journal (the ci-caller module's log_group_arns)."
  value       = [local.task_log_arn, local.journal_arn]
}

output "lease_table_arn" {
  description = "ARN of the lane lease table (the ci-caller module's lease_table_arn: callers read a lane's leases to say why a job waits)."
  value       = local.lease_table_arn
}

output "cluster_arn" {
  description = "The ECS cluster the tasks run on."
  value       = aws_ecs_cluster.tasks.arn
}

output "task_log_group" {
  description = "The task log group: task definitions you bring must log there through awslogs with awslogs-stream-prefix = task_stream_prefix."
  value       = aws_cloudwatch_log_group.tasks.name
}

output "task_execution_role_arn" {
  description = "Execution role for task definitions you bring (pulls images, writes the task log)."
  value       = aws_iam_role.task_execution.arn
}

output "worker_role_arn" {
  description = "The workers' role."
  value       = aws_iam_role.worker.arn
}

output "worker_policy_json" {
  description = "The workers' policy, for workers run outside the module's service."
  value       = data.aws_iam_policy_document.worker.json
}

output "gatekeeper_policy_json" {
  description = "The gatekeeper Lambda's policy (its event source mapping's calls included)."
  value       = data.aws_iam_policy_document.gatekeeper.json
}

output "logshipper_policy_json" {
  description = "The logshipper Lambda's policy."
  value       = data.aws_iam_policy_document.logshipper.json
}

output "gatekeeper_function_arn" {
  description = "The gatekeeper Lambda (unqualified: what runs is its alias, gatekeeper_alias_arn)."
  value       = aws_lambda_function.gatekeeper.arn
}

output "logshipper_function_arn" {
  description = "The logshipper Lambda (unqualified: what runs is its alias, logshipper_alias_arn)."
  value       = aws_lambda_function.logshipper.arn
}

output "release" {
  description = "This release's name (var.release, or the content hash): the Lambda versions' and aliases' description \"deployer release <release>\", the task definitions' DEPLOYER_RELEASE and deployer:release tag."
  value       = local.release
}

output "gatekeeper_function_name" {
  description = "The gatekeeper Lambda's name."
  value       = aws_lambda_function.gatekeeper.function_name
}

output "logshipper_function_name" {
  description = "The logshipper Lambda's name."
  value       = aws_lambda_function.logshipper.function_name
}

output "gatekeeper_alias_arn" {
  description = "The gatekeeper's alias live (qualified ARN), which the request queue's event source mapping feeds: the version of the release that runs."
  value       = aws_lambda_alias.gatekeeper.arn
}

output "logshipper_alias_arn" {
  description = "The logshipper's alias live (qualified ARN), which the task log group's subscription filter invokes."
  value       = aws_lambda_alias.logshipper.arn
}

output "task_definition_arns" {
  description = "The revisions of this release of every task definition the module registers, by family: the containers' and the worker's (\"<prefix>worker\", with worker_image)."
  value = merge(
    { for k, t in aws_ecs_task_definition.containers : k => t.arn },
    { for t in aws_ecs_task_definition.worker : t.family => t.arn },
  )
}

output "principals" {
  description = "The callers the gatekeeper knows (DEPLOYER_PRINCIPALS): unique id to ARN."
  value       = local.principals
}

output "alarm_names" {
  description = "The CloudWatch alarms made (none without alarm_actions)."
  value       = [for a in aws_cloudwatch_metric_alarm.this : a.alarm_name]
}

output "scheduler_role_arn" {
  description = "The role EventBridge Scheduler sends schedule requests as (null without schedules): list it in allowed_callers of the containers schedules run."
  value       = one(aws_iam_role.scheduler[*].arn)
}

output "schedule_arns" {
  description = "The EventBridge Scheduler schedules, by schedule name."
  value       = { for k, s in aws_scheduler_schedule.this : k => s.arn }
}

output "standard_containers" {
  description = "The standard containers turned on (the *_config variables), as the gatekeeper configuration's containers: merge them into your configuration's containers."
  value       = local.standard_containers
}

output "gatekeeper_config" {
  description = "A gatekeeper configuration (YAML) holding the standard containers: write it to a file and pack it with `make lambda GATEKEEPER_CONFIG=FILE` (docs/aws.md, \"The standard deployment\"). null when no standard container is on."
  value       = length(local.standard_containers) == 0 ? null : yamlencode({ lanes = local.standard_config.lanes, containers = local.standard_containers })
}

output "standard_task_role_arns" {
  description = "The task roles of the standard containers, by container."
  value       = { for k, r in aws_iam_role.standard : k => r.arn }
}
