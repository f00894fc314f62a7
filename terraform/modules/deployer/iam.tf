# Least privilege per component: each gets the calls its code makes, on
# the resources it makes them on (docs/aws.md, "Least privilege").

# CloudWatch Logs authorizes some calls on the log group's ARN and others
# on the stream's (log-group:G:log-stream:S): grant a group's logs as both,
# the group and everything under it.
locals {
  journal_arns = [local.journal_arn, "${local.journal_arn}:*"]
}

data "aws_iam_policy_document" "journal" {
  statement {
    sid       = "Journal"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:GetLogEvents"]
    resources = local.journal_arns
  }
}

data "aws_iam_policy_document" "gatekeeper" {
  source_policy_documents = [data.aws_iam_policy_document.journal.json, data.aws_iam_policy_document.lambda_logs["gatekeeper"].json]

  statement {
    sid = "TakeRequests"
    # The event source mapping receives and deletes; the function reads
    # the queue's URL when it opens the backend.
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = [local.request_queue_arn]
  }
  statement {
    sid       = "DeadLetterRequests"
    actions   = ["sqs:GetQueueUrl", "sqs:SendMessage"]
    resources = [local.request_dlq_arn]
  }
  statement {
    sid       = "OpenRunDeadLetters"
    actions   = ["sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = [local.run_dlq_arn]
  }
  statement {
    sid = "WriteRunOrders"
    # Lanes a configuration names later are created on their first job.
    actions   = ["sqs:GetQueueUrl", "sqs:SendMessage", "sqs:CreateQueue", "sqs:SetQueueAttributes"]
    resources = [local.lane_queues]
  }
  statement {
    sid       = "AnswerOnJobStreams"
    actions   = ["sqs:GetQueueUrl", "sqs:SendMessage"]
    resources = [local.job_queues]
  }
  statement {
    sid = "MakeStreamsOfScheduledJobs"
    # A schedule request carries no stream: the gatekeeper makes it.
    actions   = ["sqs:CreateQueue", "sqs:TagQueue", "sqs:SetQueueAttributes"]
    resources = [local.job_queues]
  }
}

data "aws_iam_policy_document" "logshipper" {
  source_policy_documents = [data.aws_iam_policy_document.lambda_logs["logshipper"].json]

  statement {
    sid       = "FindTheJobOfATask"
    actions   = ["ecs:DescribeTasks"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account}:task/${local.cluster_name}/*"]
  }
  statement {
    sid       = "ShipToJobStreams"
    actions   = ["sqs:GetQueueUrl", "sqs:SendMessage"]
    resources = [local.job_queues]
  }
}

data "aws_iam_policy_document" "worker" {
  source_policy_documents = [data.aws_iam_policy_document.journal.json]

  statement {
    sid       = "FindLanesAndStreams"
    actions   = ["sqs:ListQueues"]
    resources = ["${local.sqs_arn}:*"]
  }
  statement {
    sid       = "TakeRunOrders"
    actions   = ["sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
    resources = [local.lane_queues]
  }
  statement {
    sid = "OpenTheDeployment"
    # GetQueueAttributes: the queue depths of worker --metrics-addr.
    actions   = ["sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.requests.arn, aws_sqs_queue.request_dlq.arn]
  }
  statement {
    sid       = "DeadLetterJobs"
    actions   = ["sqs:GetQueueUrl", "sqs:SendMessage", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.run_dlq.arn]
  }
  statement {
    sid = "JobStreams"
    # Events of the jobs it runs; the janitor deletes expired streams.
    actions   = ["sqs:GetQueueUrl", "sqs:SendMessage", "sqs:ListQueueTags", "sqs:DeleteQueue"]
    resources = [local.job_queues]
  }
  statement {
    sid       = "StartTasks"
    actions   = ["ecs:RunTask"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account}:task-definition/*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.tasks.arn]
    }
  }
  statement {
    sid       = "TagTasksAtStart"
    actions   = ["ecs:TagResource"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account}:task/${local.cluster_name}/*"]
    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RunTask"]
    }
  }
  statement {
    sid       = "TrackTasks"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account}:task/${local.cluster_name}/*"]
  }
  statement {
    sid       = "AdoptTasks"
    actions   = ["ecs:ListTasks"]
    resources = ["*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.tasks.arn]
    }
  }
  statement {
    sid       = "PassTaskRoles"
    actions   = ["iam:PassRole"]
    resources = concat([aws_iam_role.task_execution.arn], var.task_role_arns, [for t in local.task_definitions : t.task_role_arn if t.task_role_arn != null])
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    sid       = "LaneLeases"
    actions   = ["dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable"]
    resources = [aws_dynamodb_table.leases.arn]
  }
}

data "aws_iam_policy_document" "lambda_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "ecs_tasks_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# The Lambdas' own logs (what AWSLambdaBasicExecutionRole grants, scoped).
data "aws_iam_policy_document" "lambda_logs" {
  for_each = toset(["gatekeeper", "logshipper"])
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [local.lambda_log_arns[each.key], "${local.lambda_log_arns[each.key]}:*"]
  }
}

locals {
  lambda_policies = {
    gatekeeper = data.aws_iam_policy_document.gatekeeper.json
    logshipper = data.aws_iam_policy_document.logshipper.json
  }
}

resource "aws_iam_role" "lambda" {
  for_each           = local.lambda_policies
  name               = "${var.prefix}${each.key}"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "lambda" {
  for_each = local.lambda_policies
  name     = "deployer-${each.key}"
  role     = aws_iam_role.lambda[each.key].id
  policy   = each.value
  lifecycle {
    # The gatekeeper keeps its right to forward (guards.tf).
    precondition {
      condition     = each.key != "gatekeeper" || length(local.gatekeeper_locked_out) == 0
      error_message = local.gatekeeper_lockout_message
    }
  }
}

# The worker's role, for the module's worker service or workers you run
# yourself (EC2 instance profile, another cluster).
resource "aws_iam_role" "worker" {
  name               = "${var.prefix}worker"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "worker" {
  name   = "deployer-worker"
  role   = aws_iam_role.worker.id
  policy = data.aws_iam_policy_document.worker.json
}

# Pulls images and writes the awslogs streams of the tasks and the workers.
resource "aws_iam_role" "task_execution" {
  name               = "${var.prefix}task-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
  tags               = var.tags
}

# Scoped to this deployment's log groups rather than the managed
# AmazonECSTaskExecutionRolePolicy's "*".
data "aws_iam_policy_document" "task_execution" {
  statement {
    sid       = "PullImages"
    actions   = ["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = ["*"]
  }
  statement {
    sid       = "WriteTaskLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = flatten([for g in concat([aws_cloudwatch_log_group.tasks], aws_cloudwatch_log_group.worker) : [g.arn, "${g.arn}:*"]])
  }
  # ECS reads the task definitions' secrets with this role when it starts
  # a task; only those, by ARN (a Secrets Manager ARN without its random
  # suffix also matches the suffixed one).
  dynamic "statement" {
    for_each = length(local.secretsmanager_arns) == 0 ? [] : [1]
    content {
      sid       = "ReadTaskSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = local.secretsmanager_arns
    }
  }
  dynamic "statement" {
    for_each = length(local.ssm_parameter_arns) == 0 ? [] : [1]
    content {
      sid       = "ReadTaskParameters"
      actions   = ["ssm:GetParameters"]
      resources = local.ssm_parameter_arns
    }
  }
}

resource "aws_iam_role_policy" "task_execution" {
  name   = "deployer-task-execution"
  role   = aws_iam_role.task_execution.id
  policy = data.aws_iam_policy_document.task_execution.json
}
