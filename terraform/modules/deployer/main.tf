# The resources every component opens by name. The names are the ones the
# code derives from the prefix (internal/awsbackend, docs/aws.md): change
# them here and nothing finds them. The queues' names, redrive limits,
# visibility timeouts and retention are internal/topology's, whose tests
# read this module and fail when the two differ.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  region    = data.aws_region.current.id
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition

  cluster_name      = "${var.prefix}tasks"
  task_log_group    = "/${var.prefix}tasks"
  journal_log_group = "/${var.prefix}jobs"
  lease_table       = "${var.prefix}leases"

  # ARN patterns of the queues, by role in the pipeline.
  sqs_arn            = "arn:${local.partition}:sqs:${local.region}:${local.account}"
  job_queues         = "${local.sqs_arn}:${var.prefix}job-*"
  lane_queues        = "${local.sqs_arn}:${var.prefix}runs-lane-*"
  dead_letters       = [local.request_dlq_arn, local.run_dlq_arn]
  cancel_lane        = "_cancel"
  request_visibility = 6 * var.gatekeeper_timeout

  # The environment every component reads (internal/awsbackend.FromEnv).
  environment = {
    DEPLOYER_AWS_REGION          = local.region
    DEPLOYER_PREFIX              = var.prefix
    DEPLOYER_ECS_CLUSTER         = local.cluster_name
    DEPLOYER_ECS_CONTAINER       = var.container_name
    DEPLOYER_ECS_SUBNETS         = join(",", var.subnets)
    DEPLOYER_ECS_SECURITY_GROUPS = join(",", var.security_groups)
    DEPLOYER_ECS_PUBLIC_IP       = tostring(var.assign_public_ip)
    DEPLOYER_TASK_LOG_GROUP      = local.task_log_group
    DEPLOYER_TASK_STREAM_PREFIX  = var.task_stream_prefix
    DEPLOYER_JOURNAL_LOG_GROUP   = local.journal_log_group
    DEPLOYER_LEASE_TABLE         = local.lease_table
  }
}

# The ARNs of the queues, log groups and lease table, derived from their
# names as AWS derives them (a postcondition of each resource holds it to
# that). The policies and outputs name these rather than the resources'
# attributes: Terraform reads a policy document at plan time only when
# nothing it refers to has changes pending, and the lock-out guards
# (guards.tf) must judge the policies at plan time even when an apply also
# changes a queue or a log group.
locals {
  request_queue_arn = "${local.sqs_arn}:${var.prefix}requests"
  request_dlq_arn   = "${local.sqs_arn}:${var.prefix}requests-dlq"
  run_dlq_arn       = "${local.sqs_arn}:${var.prefix}runs-dlq"
  lane_queue_arns   = { for l in concat(var.lanes, [local.cancel_lane]) : l => "${local.sqs_arn}:${var.prefix}runs-lane-${l}" }
  log_group_arn     = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:"
  journal_arn       = "${local.log_group_arn}${local.journal_log_group}"
  task_log_arn      = "${local.log_group_arn}${local.task_log_group}"
  lambda_log_arns   = { for f in ["gatekeeper", "logshipper"] : f => "${local.log_group_arn}/aws/lambda/${var.prefix}${f}" }
  lease_table_arn   = "arn:${local.partition}:dynamodb:${local.region}:${local.account}:table/${local.lease_table}"
}

# --- Queues ------------------------------------------------------------------

resource "aws_sqs_queue" "request_dlq" {
  name                      = "${var.prefix}requests-dlq"
  message_retention_seconds = var.dead_letter_retention_days * 86400
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
  lifecycle {
    postcondition {
      condition     = self.arn == local.request_dlq_arn
      error_message = "The request dead-letter queue's ARN is ${self.arn}, not ${local.request_dlq_arn} as the module derives it for its policies and outputs: the provider's region or account is not the request dead-letter queue's."
    }
  }
}

resource "aws_sqs_queue" "requests" {
  name                       = "${var.prefix}requests"
  visibility_timeout_seconds = local.request_visibility
  message_retention_seconds  = 4 * 86400
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.request_dlq.arn
    maxReceiveCount     = 5 # topology.RequestMaxReceives
  })
  tags = var.tags
  lifecycle {
    postcondition {
      condition     = self.arn == local.request_queue_arn
      error_message = "The request queue's ARN is ${self.arn}, not ${local.request_queue_arn} as the module derives it for its policies and outputs: the provider's region or account is not the request queue's."
    }
  }
}

resource "aws_sqs_queue" "run_dlq" {
  name                      = "${var.prefix}runs-dlq"
  message_retention_seconds = var.dead_letter_retention_days * 86400
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
  lifecycle {
    postcondition {
      condition     = self.arn == local.run_dlq_arn
      error_message = "The run dead-letter queue's ARN is ${self.arn}, not ${local.run_dlq_arn} as the module derives it for its policies and outputs: the provider's region or account is not the run dead-letter queue's."
    }
  }
}

# One run queue per lane, and the cancel lane the workers also read.
resource "aws_sqs_queue" "lanes" {
  for_each                   = toset(concat(var.lanes, [local.cancel_lane]))
  name                       = "${var.prefix}runs-lane-${each.key}"
  visibility_timeout_seconds = 60
  message_retention_seconds  = 4 * 86400
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.run_dlq.arn
    maxReceiveCount     = 10 # topology.RunMaxReceives
  })
  tags = var.tags
  lifecycle {
    postcondition {
      condition     = self.arn == local.lane_queue_arns[each.key]
      error_message = "The run queue's ARN is ${self.arn}, not ${local.lane_queue_arns[each.key]} as the module derives it for its policies and outputs: the provider's region or account is not the run queue's."
    }
  }
}

# --- Logs, leases, cluster ---------------------------------------------------

resource "aws_cloudwatch_log_group" "tasks" {
  name              = local.task_log_group
  retention_in_days = var.log_retention_days
  tags              = var.tags
  lifecycle {
    postcondition {
      condition     = self.arn == local.task_log_arn
      error_message = "The task log group's ARN is ${self.arn}, not ${local.task_log_arn} as the module derives it for its policies and outputs: the provider's region or account is not the task log group's."
    }
  }
}

resource "aws_cloudwatch_log_group" "journal" {
  name              = local.journal_log_group
  retention_in_days = var.log_retention_days
  tags              = var.tags
  lifecycle {
    postcondition {
      condition     = self.arn == local.journal_arn
      error_message = "The journal log group's ARN is ${self.arn}, not ${local.journal_arn} as the module derives it for its policies and outputs: the provider's region or account is not the journal log group's."
    }
  }
}

resource "aws_dynamodb_table" "leases" {
  name         = local.lease_table
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "lane"
  range_key    = "slot"
  attribute {
    name = "lane"
    type = "S"
  }
  attribute {
    name = "slot"
    type = "N"
  }
  tags = var.tags
  lifecycle {
    postcondition {
      condition     = self.arn == local.lease_table_arn
      error_message = "The lease table's ARN is ${self.arn}, not ${local.lease_table_arn} as the module derives it for its policies and outputs: the provider's region or account is not the lease table's."
    }
  }
}

resource "aws_ecs_cluster" "tasks" {
  name = local.cluster_name
  setting {
    name  = "containerInsights"
    value = "disabled"
  }
  tags = var.tags
}

# --- Callers -----------------------------------------------------------------

locals {
  # SQS reports a sender as its unique id (AROA… for a role, AIDA… for a
  # user); the gatekeeper maps it back to the ARN allowed_callers lists.
  # The scheduler role sends schedule requests: the gatekeeper knows it too.
  principals = merge({ for c in var.callers : c.unique_id => c.arn },
  { for r in aws_iam_role.scheduler : r.unique_id => r.arn })

  # EventBridge cron: 6 fields (a year last), and one of day-of-month and
  # day-of-week must be "?".
  schedule_fields = { for k, s in var.schedules : k => split(" ", trimspace(replace(s.cron, "/\\s+/", " "))) }
  schedule_cron = { for k, f in local.schedule_fields : k => join(" ", [
    f[0], f[1],
    f[4] == "*" || f[4] == "?" ? f[2] : "?",
    f[3],
    f[4] == "*" || f[4] == "?" ? "?" : f[4],
    "*",
  ]) }
}
