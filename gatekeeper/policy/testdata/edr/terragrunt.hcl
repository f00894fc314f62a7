# Terragrunt keeps the module's variables in inputs; the literal locals
# are resolved, the rest of the file is not read.
terraform {
  source = "git::git@github.com:gruntwork-io/terraform-aws-service-catalog.git//modules/mgmt/ecs-deploy-runner?ref=v0.104.14"
}

include "root" {
  path = find_in_parent_folders()
}

locals {
  ecr_uri        = "123456789012.dkr.ecr.us-east-1.amazonaws.com/deploy-runner"
  image_tag      = "v0.51.0"
  infra_live_ssh = "git@github.com:acme/infrastructure-live.git"
  github_pat     = "arn:aws:secretsmanager:us-east-1:123456789012:secret:GitHubPAT-AbCdEf"
  image = {
    docker_image = local.ecr_uri
    docker_tag   = local.image_tag
  }
}

inputs = {
  vpc_id             = dependency.vpc.outputs.vpc_id
  private_subnet_ids = dependency.vpc.outputs.private_app_subnet_ids

  docker_image_builder_config = null
  ami_builder_config          = null

  terraform_planner_config = {
    container_image                         = local.image
    iam_policy                              = {}
    infrastructure_live_repositories        = [local.infra_live_ssh]
    infrastructure_live_repositories_regex  = []
    repo_access_ssh_key_secrets_manager_arn = null
    repo_access_https_tokens = {
      github_token_secrets_manager_arn = local.github_pat
    }
    secrets_manager_env_vars = {
      GITHUB_OAUTH_TOKEN = local.github_pat
    }
    environment_vars = {}
  }

  terraform_applier_config = {
    container_image                         = local.image
    iam_policy                              = {}
    infrastructure_live_repositories        = [local.infra_live_ssh]
    infrastructure_live_repositories_regex  = []
    allowed_update_variable_names           = []
    allowed_apply_git_refs                  = ["main"]
    additional_allowed_options              = ["--force-unlock"]
    machine_user_git_info                   = { name = "", email = "" }
    repo_access_ssh_key_secrets_manager_arn = null
    repo_access_https_tokens                = {}
    secrets_manager_env_vars = {
      GITHUB_OAUTH_TOKEN = local.github_pat
    }
    environment_vars = {}
  }
}
