# Schedules (docs/aws.md, "Schedules"): one EventBridge Scheduler schedule
# per entry of var.schedules, sending a schedule_request/v1 message to the
# request queue as the scheduler role. The gatekeeper makes the job from
# its own configuration's schedule of that name and checks it as sent by
# the scheduler role: list the role's ARN (output scheduler_role_arn) in
# the container's allowed_callers.

resource "aws_iam_role" "scheduler" {
  count = length(var.schedules) > 0 ? 1 : 0
  name  = "${var.prefix}scheduler"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "scheduler.amazonaws.com" }
      Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
    }]
  })
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "SendScheduleRequests"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.requests.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  count  = length(var.schedules) > 0 ? 1 : 0
  name   = "send-schedule-requests"
  role   = aws_iam_role.scheduler[0].id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_scheduler_schedule" "this" {
  for_each                     = var.schedules
  name                         = "${var.prefix}${each.key}"
  schedule_expression          = "cron(${local.schedule_cron[each.key]})"
  schedule_expression_timezone = each.value.time_zone
  state                        = each.value.state

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_sqs_queue.requests.arn
    role_arn = aws_iam_role.scheduler[0].arn
    input    = jsonencode({ schema = "schedule_request/v1", schedule = each.key })
    retry_policy {
      maximum_retry_attempts = 3
    }
  }
}
