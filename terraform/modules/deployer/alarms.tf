# Alarms a platform team wants paged on, when alarm_actions names where
# to send them: dead letters waiting for a person, and requests nobody
# takes (a gatekeeper whose init fails looks like a quiet queue).

locals {
  alarms = length(var.alarm_actions) > 0 ? {
    request-dead-letters = {
      description = "Requests were dead-lettered (undecodable or repeatedly failing): deployer dlq list --queue request"
      namespace   = "AWS/SQS"
      metric      = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.request_dlq.name }
      statistic   = "Maximum"
      threshold   = 0
    }
    run-dead-letters = {
      description = "Jobs failed and were dead-lettered: deployer dlq list, then dlq show / dlq replay"
      namespace   = "AWS/SQS"
      metric      = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.run_dlq.name }
      statistic   = "Maximum"
      threshold   = 0
    }
    requests-waiting = {
      description = "A request has waited over 5 minutes for the gatekeeper: check its Lambda's init and errors"
      namespace   = "AWS/SQS"
      metric      = "ApproximateAgeOfOldestMessage"
      dimensions  = { QueueName = aws_sqs_queue.requests.name }
      statistic   = "Maximum"
      threshold   = 300
    }
    gatekeeper-errors = {
      description = "The gatekeeper Lambda failed invocations (init or handler): see its log group"
      namespace   = "AWS/Lambda"
      metric      = "Errors"
      dimensions  = { FunctionName = aws_lambda_function.gatekeeper.function_name }
      statistic   = "Sum"
      threshold   = 0
    }
  } : {}
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each            = local.alarms
  alarm_name          = "${var.prefix}${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}
