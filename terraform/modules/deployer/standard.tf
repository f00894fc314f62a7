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

  # One regex for --repo (repository URLs escaped into RE2 literals): the
  # exact repositories escaped, and the regexes as given, as alternatives.
  repo_policy = { for k, r in local.standard_repos : k => {
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

  # The standard configuration (config/standard/deployer.yaml, copied by
  # "make docs" into standard.json and checked by "make verify"): every
  # container's script_config comes from there, so the module enforces
  # exactly what config/standard does. Only the deployment's own values
  # replace the placeholders: the repositories (--repo), the refs apply
  # may run from (--ref and allowed_refs), the registry images push to
  # (--docker-image-tag), the task definitions and the secrets (ECS
  # injects them into the task's environment).
  standard_config = jsondecode(file("${path.module}/standard.json"))

  standard_scripts = {
    docker-image-builder = { script = "build-docker-image", scripts_dir = "/kaniko/scripts", readonly_rootfs = false, allowed_apply_refs = null }
    ami-builder          = { script = "build-packer-artifact", scripts_dir = "/scripts", readonly_rootfs = false, allowed_apply_refs = null }
    terraform-planner    = { script = "infrastructure-deploy-script", scripts_dir = "/scripts", readonly_rootfs = false, allowed_apply_refs = null }
    terraform-applier = {
      script          = "infrastructure-deploy-script"
      scripts_dir     = "/scripts"
      readonly_rootfs = false
      allowed_apply_refs = var.terraform_applier_config == null ? null : (
        var.terraform_applier_config.allowed_apply_git_refs == null && var.terraform_applier_config.allowed_apply_refs == null ? null :
        distinct(concat(coalesce(var.terraform_applier_config.allowed_apply_git_refs, []), coalesce(var.terraform_applier_config.allowed_apply_refs, [])))
      )
    }
  }

  # The deployment's own ECR registry, the only place images push to.
  standard_image_tag_regex = "^${replace(local.account, ".", "\\.")}\\.dkr\\.ecr\\.${replace(local.region, ".", "\\.")}\\.amazonaws\\.com/[a-z0-9._/-]+:[A-Za-z0-9._-]+$"

  # The regexes that replace the placeholders, by container.
  standard_regex = { for k, c in local.standard : k => merge(
    { "--repo" = "^${local.repo_policy[k].regex}$" },
    k == "docker-image-builder" ? { "--docker-image-tag" = local.standard_image_tag_regex } : {},
    local.standard_scripts[k].allowed_apply_refs == null ? {} : {
      "--ref" = "^(?:${join("|", [for r in local.standard_scripts[k].allowed_apply_refs : replace(r, "/([\\\\.+*?()|\\[\\]{}^$])/", "\\$1")])})$"
    },
  ) }

  # Git access and the applier's extras, as the task's secrets and environment.
  standard_secrets = { for k, c in local.standard : k => merge(
    c.secrets_manager_env_vars,
    try(c.repo_access_ssh_key_secrets_manager_arn, null) == null ? {} : { GIT_SSH_PRIVATE_KEY = c.repo_access_ssh_key_secrets_manager_arn },
    # The standard scripts clone with GITHUB_OAUTH_TOKEN (as the ECS deploy
    # runner's do); other tokens keep their names.
    { for t, v in try(c.repo_access_https_tokens, {}) : (t == "github_token_secrets_manager_arn" ? "GITHUB_OAUTH_TOKEN" : upper(trimsuffix(t, "_secrets_manager_arn"))) => v if endswith(t, "_secrets_manager_arn") },
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

  # The containers of the gatekeeper's configuration (docs/configuration.md):
  # the standard ones, with the deployment's values in place.
  standard_containers = { for k, c in local.standard : k => merge(
    { for f, v in local.standard_config.containers[k] : f => v if !contains(["local", "secrets", "task_definition", "script_config"], f) },
    {
      task_definition = "${var.prefix}${k}"
      task_cpu        = c.cpu
      task_memory     = c.memory
      script_config = { for s, sc in local.standard_config.containers[k].script_config : s => merge(
        sc,
        { restricted_options_regex = merge(try(sc.restricted_options_regex, {}), local.standard_regex[k]) },
        local.standard_scripts[k].allowed_apply_refs == null ? {} : {
          allowed_refs = ["^(?:${join("|", [for r in local.standard_scripts[k].allowed_apply_refs : replace(r, "/([\\\\.+*?()|\\[\\]{}^$])/", "\\$1")])})$"]
        },
      ) }
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
