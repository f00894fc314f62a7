# What a caller of deployer needs, and nothing else: send requests, make,
# read and delete the streams of its own jobs, read and list job history,
# read lane leases. No ECS, no run queues, no secrets: whatever the job
# does, the task does.

locals {
  # arn:PARTITION:sqs:REGION:ACCOUNT:NAME → the ARN pattern of job streams.
  sqs_arn    = join(":", slice(split(":", var.request_queue_arn), 0, 5))
  job_queues = "${local.sqs_arn}:${var.prefix}job-*"
}

data "aws_iam_policy_document" "caller" {
  statement {
    sid       = "SendRequests"
    actions   = ["sqs:GetQueueUrl", "sqs:SendMessage"]
    resources = [var.request_queue_arn]
  }
  statement {
    sid = "JobStreams"
    # run, wait, cancel and describe create a stream queue for the answer
    # (tagged with the job and its expiry), read it and delete it.
    actions   = ["sqs:CreateQueue", "sqs:TagQueue", "sqs:SetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:DeleteQueue"]
    resources = [local.job_queues]
  }
  statement {
    sid = "DoctorQueues"
    # deployer doctor checks that the deployment's queues exist (the
    # dead-letter queues, each lane's run queue, the cancel queue). Only
    # their URLs: no message can be read or sent with it.
    actions   = ["sqs:GetQueueUrl"]
    resources = ["${local.sqs_arn}:${var.prefix}requests-dlq", "${local.sqs_arn}:${var.prefix}runs-dlq", "${local.sqs_arn}:${var.prefix}runs-lane-*"]
  }
  statement {
    sid = "JobHistory"
    # status, logs and wait read a job's journal; jobs lists the journal's
    # streams.
    actions = ["logs:GetLogEvents", "logs:DescribeLogStreams"]
    # Authorized on the group's ARN or the stream's: the group and all under it.
    resources = flatten([for g in var.log_group_arns : [trimsuffix(g, ":*"), "${trimsuffix(g, ":*")}:*"]])
  }
  dynamic "statement" {
    for_each = var.lease_table_arn == null ? [] : [1]
    content {
      sid = "LaneLeases"
      # status counts what runs in a queued job's lane (a consistent Query
      # of the lane's leases).
      actions   = ["dynamodb:Query"]
      resources = [var.lease_table_arn]
    }
  }
  dynamic "statement" {
    for_each = var.operator ? [1] : []
    content {
      sid       = "DeadLetters"
      actions   = ["sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:SendMessage", "sqs:GetQueueAttributes"]
      resources = var.dead_letter_queue_arns
    }
  }
}

resource "aws_iam_role_policy" "caller" {
  for_each = toset(var.role_names)
  name     = var.policy_name
  role     = each.key
  policy   = data.aws_iam_policy_document.caller.json
  lifecycle {
    # CI keeps its right to enqueue (guards.tf).
    precondition {
      condition     = local.guard_ok
      error_message = local.guard_message[each.key]
    }
  }
}
