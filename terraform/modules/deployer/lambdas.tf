# The gatekeeper, fed by the request queue; the logshipper, fed by the
# task log group. Each apply that changes a function publishes a version
# of it and moves its alias "live" there (release.tf); what feeds a
# function feeds its alias.

resource "aws_cloudwatch_log_group" "lambda" {
  for_each          = toset(["gatekeeper", "logshipper"])
  name              = "/aws/lambda/${var.prefix}${each.key}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
  lifecycle {
    postcondition {
      condition     = self.arn == local.lambda_log_arns[each.key]
      error_message = "The Lambda log group's ARN is ${self.arn}, not ${local.lambda_log_arns[each.key]} as the module derives it for its policies and outputs: the provider's region or account is not the Lambda log group's."
    }
  }
}

resource "aws_lambda_function" "gatekeeper" {
  function_name    = "${var.prefix}gatekeeper"
  description      = local.release_description
  publish          = true
  role             = aws_iam_role.lambda["gatekeeper"].arn
  filename         = var.gatekeeper_zip
  source_code_hash = filebase64sha256(var.gatekeeper_zip)
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.lambda_architecture]
  memory_size      = 256
  timeout          = var.gatekeeper_timeout
  environment {
    variables = merge(local.environment, {
      DEPLOYER_PRINCIPALS = jsonencode(local.principals)
    })
  }
  tags       = var.tags
  depends_on = [aws_cloudwatch_log_group.lambda, aws_iam_role_policy.lambda]
}

# The alias each function's feeds name: the version this release published.
resource "aws_lambda_alias" "gatekeeper" {
  name             = "live"
  description      = local.release_description
  function_name    = aws_lambda_function.gatekeeper.function_name
  function_version = aws_lambda_function.gatekeeper.version
}

resource "aws_lambda_alias" "logshipper" {
  name             = "live"
  description      = local.release_description
  function_name    = aws_lambda_function.logshipper.function_name
  function_version = aws_lambda_function.logshipper.version
}

resource "aws_lambda_event_source_mapping" "requests" {
  event_source_arn = aws_sqs_queue.requests.arn
  function_name    = aws_lambda_alias.gatekeeper.arn
  batch_size       = 10
  # A message the gatekeeper could not handle for a transient reason is
  # reported and retried alone; the rest of the batch is done.
  function_response_types = ["ReportBatchItemFailures"]
  scaling_config {
    maximum_concurrency = var.gatekeeper_concurrency
  }
  depends_on = [aws_iam_role_policy.lambda]
}

resource "aws_lambda_function" "logshipper" {
  function_name    = "${var.prefix}logshipper"
  description      = local.release_description
  publish          = true
  role             = aws_iam_role.lambda["logshipper"].arn
  filename         = var.logshipper_zip
  source_code_hash = filebase64sha256(var.logshipper_zip)
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.lambda_architecture]
  memory_size      = 256
  timeout          = 60
  environment {
    variables = local.environment
  }
  tags       = var.tags
  depends_on = [aws_cloudwatch_log_group.lambda, aws_iam_role_policy.lambda]
}

# The permission is the alias's (qualifier): CloudWatch Logs invokes the
# alias the subscription filter names, and a permission on the unqualified
# function would not cover it.
resource "aws_lambda_permission" "logshipper" {
  statement_id   = "task-log-subscription"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.logshipper.function_name
  qualifier      = aws_lambda_alias.logshipper.name
  principal      = "logs.amazonaws.com"
  source_arn     = "${aws_cloudwatch_log_group.tasks.arn}:*"
  source_account = local.account
}

resource "aws_cloudwatch_log_subscription_filter" "tasks" {
  name            = "${var.prefix}logshipper"
  log_group_name  = aws_cloudwatch_log_group.tasks.name
  filter_pattern  = "" # every line of every task
  destination_arn = aws_lambda_alias.logshipper.arn
  depends_on      = [aws_lambda_permission.logshipper]
}
