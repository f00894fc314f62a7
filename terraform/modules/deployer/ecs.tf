# Task definitions of the allow-list's containers (optional) and the
# worker service (optional). Every one carries its release (release.tf)
# and outlives it: skip_destroy leaves a replaced revision ACTIVE for
# deployer rollback.

resource "aws_ecs_task_definition" "containers" {
  for_each                 = local.task_definitions
  family                   = each.key
  requires_compatibilities = each.value.launch_types
  network_mode             = "awsvpc"
  cpu                      = tostring(each.value.cpu)
  memory                   = tostring(each.value.memory)
  execution_role_arn       = aws_iam_role.task_execution.arn
  task_role_arn            = each.value.task_role_arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = each.value.cpu_arch
  }
  # The worker overrides this container's command with [SCRIPT, ARGV...],
  # which deployer-task runs from the image's scripts directory; its
  # framed output must reach the task log group under the stream prefix
  # the logshippers read (<prefix>/<container>/<task id>). An init process
  # reaps what the script leaves behind and passes ECS's SIGTERM on.
  container_definitions = jsonencode([{
    name                   = var.container_name
    image                  = each.value.image
    essential              = true
    entryPoint             = ["deployer-task"]
    readonlyRootFilesystem = each.value.readonly_rootfs
    stopTimeout            = each.value.stop_timeout
    linuxParameters        = { initProcessEnabled = true }
    environment = concat(
      [for k in sort(keys(each.value.environment)) : { name = k, value = each.value.environment[k] }],
      [
        { name = "DEPLOYER_SCRIPTS_DIR", value = each.value.scripts_dir },
        { name = "DEPLOYER_STOP_GRACE", value = "${each.value.stop_timeout - 5}s" },
        { name = "DEPLOYER_RELEASE", value = local.release },
      ],
    )
    secrets = [for k in sort(keys(each.value.secrets)) : { name = k, valueFrom = each.value.secrets[k] }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.tasks.name
        awslogs-region        = local.region
        awslogs-stream-prefix = var.task_stream_prefix
      }
    }
  }])
  tags         = local.release_tags
  skip_destroy = true
}

resource "aws_cloudwatch_log_group" "worker" {
  count             = var.worker_image == null ? 0 : 1
  name              = "/${var.prefix}worker"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_ecs_task_definition" "worker" {
  count                    = var.worker_image == null ? 0 : 1
  family                   = "${var.prefix}worker"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = "256"
  memory                   = "512"
  execution_role_arn       = aws_iam_role.task_execution.arn
  task_role_arn            = aws_iam_role.worker.arn
  container_definitions = jsonencode([{
    name      = "worker"
    image     = var.worker_image
    essential = true
    command = [
      "--capacity", tostring(var.worker_capacity),
      "--drain-timeout", "${var.worker_drain_timeout}s",
    ]
    environment = [for k, v in merge(local.environment, { DEPLOYER_RELEASE = local.release }) : { name = k, value = v }]
    # SIGTERM starts the drain; ECS sends SIGKILL after stopTimeout.
    stopTimeout = min(var.worker_drain_timeout + 5, 120)
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.worker[0].name
        awslogs-region        = local.region
        awslogs-stream-prefix = "worker"
      }
    }
  }])
  tags         = local.release_tags
  skip_destroy = true
}

resource "aws_ecs_service" "worker" {
  count   = var.worker_image == null ? 0 : 1
  name    = "${var.prefix}worker"
  cluster = aws_ecs_cluster.tasks.id
  # The revision, by ARN: this release's, until the next apply or a
  # rollback names another.
  task_definition = aws_ecs_task_definition.worker[0].arn
  desired_count   = var.worker_count
  launch_type     = "FARGATE"
  # A worker that stops hands its jobs back; a new one adopts them, so
  # rolling replacements lose nothing.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  network_configuration {
    subnets          = var.subnets
    security_groups  = var.security_groups
    assign_public_ip = var.assign_public_ip
  }
  tags = var.tags
}
