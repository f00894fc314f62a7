variable "prefix" {
  description = "Starts the name of every resource; the same as the components' DEPLOYER_PREFIX."
  type        = string
  default     = "deployer-"
  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{0,40}$", var.prefix))
    error_message = "The prefix must be at most 40 letters, digits, hyphens and underscores."
  }
}

variable "lanes" {
  description = "Lanes whose run queues exist from the start. The gatekeeper creates the queue of any other lane a configuration names when its first job arrives."
  type        = list(string)
  default     = ["default"]
  validation {
    condition     = alltrue([for l in var.lanes : can(regex("^[A-Za-z0-9_-]{1,40}$", l)) && l != "_cancel"])
    error_message = "A lane is 1 to 40 letters, digits, hyphens and underscores, and _cancel is reserved."
  }
}

variable "dead_letter_retention_days" {
  description = "How long failed requests and jobs stay in the dead-letter queues (1 to 14 days)."
  type        = number
  default     = 14
  validation {
    condition     = var.dead_letter_retention_days >= 1 && var.dead_letter_retention_days <= 14
    error_message = "SQS keeps messages 1 to 14 days."
  }
}

variable "log_retention_days" {
  description = "Retention of the task log group and the journal (a CloudWatch Logs retention value)."
  type        = number
  default     = 90
}

variable "task_stream_prefix" {
  description = "awslogs-stream-prefix of the task definitions (DEPLOYER_TASK_STREAM_PREFIX)."
  type        = string
  default     = "deployer"
}

variable "container_name" {
  description = "Container of the task definitions whose command the worker overrides with the job's argv (DEPLOYER_ECS_CONTAINER)."
  type        = string
  default     = "deployer"
}

variable "callers" {
  description = "IAM roles and users allowed to submit requests: pass aws_iam_role resources or data sources as they are (a user: { arn = u.arn, unique_id = u.user_id }). SQS names a message's sender by its unique id; the gatekeeper maps it back to the ARN (DEPLOYER_PRINCIPALS) and checks that against allowed_callers. Attach the ci-caller module's policy to them."
  type = list(object({
    arn       = string
    unique_id = string
  }))
  default = []
}

variable "gatekeeper_zip" {
  description = "Path of the gatekeeper Lambda package: dist/gatekeeper.zip from `make lambda GATEKEEPER_CONFIG=deployer.yaml`, which holds the allow-list as deployer.yaml."
  type        = string
}

variable "logshipper_zip" {
  description = "Path of the logshipper Lambda package: dist/logshipper.zip from `make lambda`."
  type        = string
}

variable "release" {
  description = "Name of this release of the deployment: the Lambdas' published versions and their live aliases are described \"deployer release <release>\", and every task definition the module registers carries it (DEPLOYER_RELEASE, tag deployer:release), so deployer rollback can find the previous one. null (the default) names it by its content: the first 12 hex digits of a sha256 over both Lambda packages, the task definitions and the worker image, so an apply that changes none of them is no new release. 1 to 64 letters, digits, dots, underscores and hyphens."
  type        = string
  default     = null
  validation {
    condition     = var.release == null || can(regex("^[A-Za-z0-9._-]{1,64}$", var.release))
    error_message = "A release is 1 to 64 letters, digits, dots, underscores and hyphens (it names Lambda versions and tags task definitions)."
  }
}

variable "lambda_architecture" {
  description = "Architecture the Lambda packages were built for (LAMBDA_ARCH of `make lambda`)."
  type        = string
  default     = "arm64"
  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "Lambda runs arm64 or x86_64."
  }
}

variable "gatekeeper_timeout" {
  description = "Gatekeeper Lambda timeout in seconds; the request queue's visibility timeout is six times this, as AWS advises for event source mappings."
  type        = number
  default     = 30
  validation {
    condition     = var.gatekeeper_timeout >= 5 && var.gatekeeper_timeout <= 900
    error_message = "A Lambda timeout is at most 900 s; under 5 s a gatekeeper's init and first calls may not fit."
  }
}

variable "gatekeeper_concurrency" {
  description = "Most concurrent gatekeeper invocations the request queue's event source mapping starts (2 to 1000)."
  type        = number
  default     = 10
  validation {
    condition     = var.gatekeeper_concurrency >= 2 && var.gatekeeper_concurrency <= 1000
    error_message = "An SQS event source mapping's maximum concurrency is 2 to 1000."
  }
}

variable "task_role_arns" {
  description = "Task and execution roles of the task definitions the worker runs: it may pass only these (iam:PassRole). The module's own execution role is added."
  type        = list(string)
  default     = []
}

variable "task_definitions" {
  description = "Task definitions to create for the containers of the allow-list (their task_definition is the key), logging to the task log group as the worker and logshippers expect, with deployer-task (on the image's PATH) as the entrypoint. scripts_dir is where the image keeps its scripts; stop_timeout is ECS's stopTimeout, and deployer-task kills the script 5 seconds before it; environment is the container's environment and secrets its ECS secrets (variable name to Secrets Manager or SSM parameter ARN, injected by ECS with the execution role, which the module lets read them). Leave empty to bring your own. The standard containers' task definitions (the *_config variables) join these."
  type = map(object({
    image           = string
    cpu             = optional(number, 1024)
    memory          = optional(number, 2048)
    task_role_arn   = optional(string)
    cpu_arch        = optional(string, "X86_64")
    launch_types    = optional(list(string), ["FARGATE"])
    readonly_rootfs = optional(bool, false)
    scripts_dir     = optional(string, "/deployer/scripts")
    stop_timeout    = optional(number, 30)
    environment     = optional(map(string), {})
    secrets         = optional(map(string), {})
  }))
  default = {}
  validation {
    condition     = alltrue([for td in values(var.task_definitions) : td.stop_timeout >= 10 && td.stop_timeout <= 120 && startswith(td.scripts_dir, "/")])
    error_message = "Each task definition needs stop_timeout between 10 and 120 seconds (Fargate's limit; deployer-task needs 5 of them to close the log) and an absolute scripts_dir."
  }
}

variable "worker_image" {
  description = "Container image of the worker daemon (cmd/worker), built from images/worker/Dockerfile (make images). When set, the module runs it as an ECS service on the cluster; otherwise run workers yourself with the policy in the worker_policy_json output."
  type        = string
  default     = null
}

variable "worker_count" {
  description = "Workers of the service (each tracks up to worker_capacity jobs)."
  type        = number
  default     = 1
}

variable "worker_capacity" {
  description = "Most jobs one worker tracks at once (--capacity)."
  type        = number
  default     = 32
}

variable "worker_drain_timeout" {
  description = "How long a stopping worker keeps tracking its jobs before handing them back, in seconds (--drain-timeout). ECS's stop timeout is capped at 120 s, so a longer drain needs workers outside ECS."
  type        = number
  default     = 110
  validation {
    condition     = var.worker_drain_timeout >= 0 && var.worker_drain_timeout <= 115
    error_message = "The drain must end before ECS's stop timeout (at most 120 s): 0 to 115 s."
  }
}

variable "subnets" {
  description = "Subnets of the awsvpc tasks and of the worker service."
  type        = list(string)
  default     = []
}

variable "security_groups" {
  description = "Security groups of the awsvpc tasks and of the worker service."
  type        = list(string)
  default     = []
}

variable "assign_public_ip" {
  description = "Give tasks (and workers) a public IP, for subnets without a NAT."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}

variable "alarm_actions" {
  description = "Where CloudWatch alarms notify (SNS topic ARNs): dead letters waiting, requests nobody takes, gatekeeper errors. Empty: no alarms."
  type        = list(string)
  default     = []
}

variable "schedules" {
  description = "Schedules, as the configuration's schedules (same names and shape): each becomes an EventBridge Scheduler schedule that sends a schedule_request/v1 message to the request queue as the scheduler role; the gatekeeper runs its own configuration's schedule of that name. cron has 5 fields; its day of week must be * or names (MON-FRI), since EventBridge numbers days 1-7 from Sunday. state = \"DISABLED\" pauses a schedule. overlap and pause_after_failures are enforced by the embedded backend only: EventBridge Scheduler does not see job outcomes."
  type = map(object({
    cron                 = string
    time_zone            = optional(string, "UTC")
    container            = string
    script               = string
    args                 = optional(list(string), [])
    caller               = optional(string)
    overlap              = optional(string, "skip")
    pause_after_failures = optional(number, 0)
    state                = optional(string, "ENABLED")
  }))
  default = {}
  validation {
    condition     = alltrue([for s in values(var.schedules) : length(split(" ", trimspace(s.cron))) == 5])
    error_message = "Each schedule's cron has 5 fields: minute hour day-of-month month day-of-week."
  }
  validation {
    condition     = alltrue([for s in values(var.schedules) : can(regex("^(\\*|\\?|[A-Za-z]{3}([-,][A-Za-z]{3})*)$", split(" ", trimspace(s.cron))[4]))])
    error_message = "A schedule's day of week must be * or day names (MON, MON-FRI, SAT,SUN): EventBridge numbers days differently from cron."
  }
  validation {
    condition     = alltrue([for s in values(var.schedules) : contains(["ENABLED", "DISABLED"], s.state)])
    error_message = "A schedule's state is ENABLED or DISABLED."
  }
}

# --- The standard configuration ----------------------------------------------
# The four containers of the ECS deploy runner's standard configuration,
# in the shape of its variables of the same names (optional() fills what
# the ECS deploy runner required). null turns a container off. Each one on
# gets a task definition (standard.tf) and its entry in the
# standard_containers and gatekeeper_config outputs.

variable "docker_image_builder_config" {
  description = "The docker-image-builder container (script build-docker-image, the images/kaniko image): builds container images with Kaniko. allowed_repos and allowed_repos_regex are the git repositories it may build from (at least one); git_config names the Secrets Manager entries of the HTTPS git user (GIT_USERNAME, GIT_PASSWORD in the task); secrets_manager_env_vars become the task's secrets, environment_vars its environment; iam_policy the task role's statements (by sid). allowed_callers (deployer's own) narrows who may run it. null turns it off."
  type = object({
    container_image = object({ docker_image = string, docker_tag = string })
    iam_policy = optional(map(object({
      resources = list(string)
      actions   = list(string)
      effect    = optional(string, "Allow")
    })), {})
    allowed_repos       = optional(list(string), [])
    allowed_repos_regex = optional(list(string), [])
    git_config = optional(object({
      username_secrets_manager_arn = optional(string)
      password_secrets_manager_arn = optional(string)
    }))
    secrets_manager_env_vars = optional(map(string), {})
    environment_vars         = optional(map(string), {})
    allowed_callers          = optional(list(string))
    cpu                      = optional(number, 2048)
    memory                   = optional(number, 4096)
  })
  default = null
  validation {
    condition     = var.docker_image_builder_config == null || length(concat(try(var.docker_image_builder_config.allowed_repos, []), try(var.docker_image_builder_config.allowed_repos_regex, []))) > 0
    error_message = "docker_image_builder_config needs at least one of allowed_repos and allowed_repos_regex: the repositories it may build from."
  }
}

variable "ami_builder_config" {
  description = "The ami-builder container (script build-packer-artifact, the images/deploy-runner image): builds AMIs with Packer. allowed_repos and allowed_repos_regex are the git repositories of the Packer templates (at least one); repo_access_ssh_key_secrets_manager_arn and repo_access_https_tokens give the task git access (see docs/aws.md); secrets_manager_env_vars become the task's secrets, environment_vars its environment; iam_policy the task role's statements (by sid). allowed_callers (deployer's own) narrows who may run it. null turns it off."
  type = object({
    container_image = object({ docker_image = string, docker_tag = string })
    iam_policy = optional(map(object({
      resources = list(string)
      actions   = list(string)
      effect    = optional(string, "Allow")
    })), {})
    allowed_repos                           = optional(list(string), [])
    allowed_repos_regex                     = optional(list(string), [])
    repo_access_ssh_key_secrets_manager_arn = optional(string)
    repo_access_https_tokens                = optional(map(string), {})
    secrets_manager_env_vars                = optional(map(string), {})
    environment_vars                        = optional(map(string), {})
    allowed_callers                         = optional(list(string))
    cpu                                     = optional(number, 2048)
    memory                                  = optional(number, 4096)
  })
  default = null
  validation {
    condition     = var.ami_builder_config == null || length(concat(try(var.ami_builder_config.allowed_repos, []), try(var.ami_builder_config.allowed_repos_regex, []))) > 0
    error_message = "ami_builder_config needs at least one of allowed_repos and allowed_repos_regex: the repositories of the Packer templates."
  }
}

variable "terraform_planner_config" {
  description = "The terraform-planner container (script infrastructure-deploy-script limited to plan and validate, the images/deploy-runner image). infrastructure_live_repositories and infrastructure_live_repositories_regex are the repositories it may plan (at least one; a single repository is passed as a hardcoded --repo); the other fields as in ami_builder_config. null turns it off."
  type = object({
    container_image = object({ docker_image = string, docker_tag = string })
    iam_policy = optional(map(object({
      resources = list(string)
      actions   = list(string)
      effect    = optional(string, "Allow")
    })), {})
    infrastructure_live_repositories        = optional(list(string), [])
    infrastructure_live_repositories_regex  = optional(list(string), [])
    repo_access_ssh_key_secrets_manager_arn = optional(string)
    repo_access_https_tokens                = optional(map(string), {})
    secrets_manager_env_vars                = optional(map(string), {})
    environment_vars                        = optional(map(string), {})
    allowed_callers                         = optional(list(string))
    cpu                                     = optional(number, 1024)
    memory                                  = optional(number, 2048)
  })
  default = null
  validation {
    condition     = var.terraform_planner_config == null || length(concat(try(var.terraform_planner_config.infrastructure_live_repositories, []), try(var.terraform_planner_config.infrastructure_live_repositories_regex, []))) > 0
    error_message = "terraform_planner_config needs at least one of infrastructure_live_repositories and infrastructure_live_repositories_regex."
  }
}

variable "terraform_applier_config" {
  description = "The terraform-applier container (script infrastructure-deploy-script, plan and apply, the images/deploy-runner image). As terraform_planner_config, and: allowed_apply_git_refs (the ECS deploy runner's name; allowed_apply_refs is accepted too, both are joined) are the git refs apply may run from, as the script's allowed_refs (exact names; null or absent: any ref); machine_user_git_info sets GIT_AUTHOR_*/GIT_COMMITTER_* in the task; allowed_update_variable_names is passed to the task as DEPLOYER_ALLOWED_UPDATE_VARIABLE_NAMES (comma-separated). null turns it off."
  type = object({
    container_image = object({ docker_image = string, docker_tag = string })
    iam_policy = optional(map(object({
      resources = list(string)
      actions   = list(string)
      effect    = optional(string, "Allow")
    })), {})
    infrastructure_live_repositories        = optional(list(string), [])
    infrastructure_live_repositories_regex  = optional(list(string), [])
    allowed_update_variable_names           = optional(list(string), [])
    allowed_apply_git_refs                  = optional(list(string))
    allowed_apply_refs                      = optional(list(string))
    machine_user_git_info                   = optional(object({ name = string, email = string }))
    repo_access_ssh_key_secrets_manager_arn = optional(string)
    repo_access_https_tokens                = optional(map(string), {})
    secrets_manager_env_vars                = optional(map(string), {})
    environment_vars                        = optional(map(string), {})
    allowed_callers                         = optional(list(string))
    cpu                                     = optional(number, 1024)
    memory                                  = optional(number, 2048)
  })
  default = null
  validation {
    condition     = var.terraform_applier_config == null || length(concat(try(var.terraform_applier_config.infrastructure_live_repositories, []), try(var.terraform_applier_config.infrastructure_live_repositories_regex, []))) > 0
    error_message = "terraform_applier_config needs at least one of infrastructure_live_repositories and infrastructure_live_repositories_regex."
  }
}
