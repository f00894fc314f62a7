# The standard configuration: the ECS deploy runner's four containers,
# turned on by the *_config variables. Each one on gets
#   - a task role with its iam_policy,
#   - a task definition (aws_ecs_task_definition.containers, beside the
#     ones of var.task_definitions) running deployer-task from its image,
#     with its secrets_manager_env_vars as ECS secrets and its
#     environment_vars as environment,
#   - its container in the gatekeeper's configuration: the
#     standard_containers and gatekeeper_config outputs, with the standard
#     scripts' script_config, the repositories as the --repo regex and the
#     applier's refs as allowed_refs.
# The gatekeeper reads its configuration from its package (make lambda
# GATEKEEPER_CONFIG=...): write gatekeeper_config into that file (docs/aws.md,
# "The standard deployment").

locals {
  # The scripts' options, as config/standard/scripts take them.
  git_options = ["--repo", "--ref"]

  # The repositories each container may fetch, exact and as regexes.
  standard_repos = {
    docker-image-builder = var.docker_image_builder_config == null ? null : {
      exact = var.docker_image_builder_config.allowed_repos
      regex = var.docker_image_builder_config.allowed_repos_regex
    }
    ami-builder = var.ami_builder_config == null ? null : {
      exact = var.ami_builder_config.allowed_repos
      regex = var.ami_builder_config.allowed_repos_regex
    }
    terraform-planner = var.terraform_planner_config == null ? null : {
      exact = var.terraform_planner_config.infrastructure_live_repositories
      regex = var.terraform_planner_config.infrastructure_live_repositories_regex
    }
    terraform-applier = var.terraform_applier_config == null ? null : {
      exact = var.terraform_applier_config.infrastructure_live_repositories
      regex = var.terraform_applier_config.infrastructure_live_repositories_regex
    }
  }

  # One regex for --repo (repository URLs escaped into RE2 literals): the exact repositories escaped, and the regexes
  # as given, as alternatives (the gatekeeper matches the whole value).
  # A single exact repository and no regex is hardcoded instead, as the
  # ECS deploy runner does: callers then pass no --repo.
  repo_policy = { for k, r in local.standard_repos : k => {
    single = length(r.exact) == 1 && length(r.regex) == 0 ? r.exact[0] : null
    regex = "(?:${join("|", concat(
      [for u in r.exact : replace(u, "/([\\\\.+*?()|\\[\\]{}^$])/", "\\$1")],
      r.regex,
    ))})"
  } if r != null }

  standard_input = {
    docker-image-builder = var.docker_image_builder_config
    ami-builder          = var.ami_builder_config
    terraform-planner    = var.terraform_planner_config
    terraform-applier    = var.terraform_applier_config
  }
  standard = { for k, c in local.standard_input : k => c if c != null }

  # What each container may run: its script and the options it takes
  # (beyond --repo and --ref).
  standard_scripts = {
    docker-image-builder = {
      script             = "build-docker-image"
      options            = ["--context-path", "--docker-file-path", "--image-tag", "--build-arg", "--target"]
      repeatable         = ["--image-tag", "--build-arg"]
      flags              = []
      regex              = {}
      scripts_dir        = "/kaniko/scripts"
      readonly_rootfs    = false
      dead_letter_on     = null
      allowed_apply_refs = null
    }
    ami-builder = {
      script             = "build-packer-artifact"
      options            = ["--template-path", "--build-name", "--var", "--var-file"]
      repeatable         = ["--var", "--var-file"]
      flags              = ["--idempotent"]
      regex              = {}
      scripts_dir        = "/scripts"
      readonly_rootfs    = false
      dead_letter_on     = null
      allowed_apply_refs = null
    }
    terraform-planner = {
      script             = "infrastructure-deploy-script"
      options            = ["--binary", "--command", "--command-args", "--deploy-path"]
      repeatable         = []
      flags              = []
      regex              = { "--binary" = "terraform|terragrunt", "--command" = "plan|validate|plan-all|validate-all" }
      scripts_dir        = "/scripts"
      readonly_rootfs    = false
      dead_letter_on     = [] # a failed plan needs no replay
      allowed_apply_refs = null
    }
    terraform-applier = {
      script          = "infrastructure-deploy-script"
      options         = ["--binary", "--command", "--command-args", "--deploy-path"]
      repeatable      = []
      flags           = []
      regex           = { "--binary" = "terraform|terragrunt", "--command" = "plan|apply|validate|plan-all|apply-all|validate-all" }
      scripts_dir     = "/scripts"
      readonly_rootfs = false
      dead_letter_on  = null
      allowed_apply_refs = var.terraform_applier_config == null ? null : (
        var.terraform_applier_config.allowed_apply_git_refs == null && var.terraform_applier_config.allowed_apply_refs == null ? null :
        distinct(concat(coalesce(var.terraform_applier_config.allowed_apply_git_refs, []), coalesce(var.terraform_applier_config.allowed_apply_refs, [])))
      )
    }
  }

  # Git access and the applier's extras, as the task's secrets and environment.
  standard_secrets = { for k, c in local.standard : k => merge(
    c.secrets_manager_env_vars,
    try(c.repo_access_ssh_key_secrets_manager_arn, null) == null ? {} : { GIT_SSH_PRIVATE_KEY = c.repo_access_ssh_key_secrets_manager_arn },
    { for t, v in try(c.repo_access_https_tokens, {}) : upper(trimsuffix(t, "_secrets_manager_arn")) => v if endswith(t, "_secrets_manager_arn") },
    try(c.git_config.username_secrets_manager_arn, null) == null ? {} : { GIT_USERNAME = c.git_config.username_secrets_manager_arn },
    try(c.git_config.password_secrets_manager_arn, null) == null ? {} : { GIT_PASSWORD = c.git_config.password_secrets_manager_arn },
  ) }
  standard_environment = { for k, c in local.standard : k => merge(
    c.environment_vars,
    { for t, v in try(c.repo_access_https_tokens, {}) : upper(t) => v if !endswith(t, "_secrets_manager_arn") },
    try(c.machine_user_git_info, null) == null ? {} : {
      GIT_AUTHOR_NAME     = c.machine_user_git_info.name
      GIT_AUTHOR_EMAIL    = c.machine_user_git_info.email
      GIT_COMMITTER_NAME  = c.machine_user_git_info.name
      GIT_COMMITTER_EMAIL = c.machine_user_git_info.email
    },
    length(try(c.allowed_update_variable_names, [])) == 0 ? {} : { DEPLOYER_ALLOWED_UPDATE_VARIABLE_NAMES = join(",", c.allowed_update_variable_names) },
  ) }

  standard_task_definitions = { for k, c in local.standard : "${var.prefix}${k}" => {
    image           = "${c.container_image.docker_image}:${c.container_image.docker_tag}"
    cpu             = c.cpu
    memory          = c.memory
    task_role_arn   = aws_iam_role.standard[k].arn
    cpu_arch        = "X86_64"
    launch_types    = ["FARGATE"]
    readonly_rootfs = local.standard_scripts[k].readonly_rootfs
    scripts_dir     = local.standard_scripts[k].scripts_dir
    stop_timeout    = 120
    environment     = local.standard_environment[k]
    secrets         = local.standard_secrets[k]
  } }

  # Every task definition the module makes: yours and the standard ones.
  task_definitions = merge(var.task_definitions, local.standard_task_definitions)

  # The containers of the gatekeeper's configuration (docs/configuration.md).
  standard_containers = { for k, c in local.standard : k => merge(
    {
      description     = "The standard ${k} (${local.standard_scripts[k].script})."
      task_definition = "${var.prefix}${k}"
      launch_types    = ["FARGATE"]
      task_cpu        = c.cpu
      task_memory     = c.memory
      timeout         = "2h"
      script_config = {
        (local.standard_scripts[k].script) = merge(
          {
            hardcoded_options = local.repo_policy[k].single == null ? {} : { "--repo" = [local.repo_policy[k].single] }
            allowed_options = concat(
              local.repo_policy[k].single == null ? ["--repo"] : [],
              ["--ref"],
              local.standard_scripts[k].options,
            )
            allowed_options_without_args = local.standard_scripts[k].flags
            repeatable_options           = local.standard_scripts[k].repeatable
            allow_positional_args        = false
            restricted_options_regex = merge(
              local.standard_scripts[k].regex,
              local.repo_policy[k].single == null ? { "--repo" = local.repo_policy[k].regex } : {},
            )
          },
          local.standard_scripts[k].allowed_apply_refs == null ? {} : { allowed_refs = [for r in local.standard_scripts[k].allowed_apply_refs : replace(r, "/([\\\\.+*?()|\\[\\]{}^$])/", "\\$1")] },
          local.standard_scripts[k].dead_letter_on == null ? {} : { dead_letter_on = local.standard_scripts[k].dead_letter_on },
        )
      }
    },
    c.allowed_callers == null ? {} : { allowed_callers = c.allowed_callers },
  ) }

  # The ARNs the execution role reads for the task definitions' secrets.
  task_secret_refs    = distinct(flatten([for t in values(local.task_definitions) : values(t.secrets)]))
  secretsmanager_arns = distinct(flatten([for r in local.task_secret_refs : [join(":", slice(split(":", r), 0, 7)), "${join(":", slice(split(":", r), 0, 7))}-??????"] if startswith(r, "arn:") && split(":", r)[2] == "secretsmanager"]))
  ssm_parameter_arns  = distinct([for r in local.task_secret_refs : r if startswith(r, "arn:") && split(":", r)[2] == "ssm"])
}

resource "aws_iam_role" "standard" {
  for_each           = local.standard
  name               = "${var.prefix}${each.key}"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "standard" {
  for_each = { for k, c in local.standard : k => c if length(c.iam_policy) > 0 }
  dynamic "statement" {
    for_each = each.value.iam_policy
    content {
      sid       = statement.key
      effect    = statement.value.effect
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "standard" {
  for_each = data.aws_iam_policy_document.standard
  name     = "deployer-${each.key}"
  role     = aws_iam_role.standard[each.key].id
  policy   = each.value.json
}
