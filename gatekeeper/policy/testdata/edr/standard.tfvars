# ECS deploy runner, shared account: the standard configuration's four
# containers, as kept in terraform.tfvars.

vpc_id             = "vpc-0123456789abcdef0"
private_subnet_ids = ["subnet-0aaa", "subnet-0bbb"]

container_cpu        = 1024
container_memory     = 2048
container_max_cpu    = 4096
container_max_memory = 8192

docker_image_builder_config = {
  container_image = {
    docker_image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/kaniko"
    docker_tag   = "v0.51.0"
  }
  iam_policy = {
    ECRAccess = {
      actions   = ["ecr:*"]
      resources = ["*"]
      effect    = "Allow"
    }
  }
  allowed_repos       = ["https://github.com/acme/sample-app.git"]
  allowed_repos_regex = ["https://github.com/acme/svc-[a-z-]+\\.git"]
  git_config = {
    username_secrets_manager_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:GitHubPAT-AbCdEf"
    password_secrets_manager_arn = null
  }
  secrets_manager_env_vars = {
    GITHUB_OAUTH_TOKEN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:GitHubPAT-AbCdEf"
  }
  environment_vars = {}
}

ami_builder_config = null # AMIs are built elsewhere

/* The planner runs plan and validate for one repository. */
terraform_planner_config = {
  container_image = {
    docker_image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/deploy-runner"
    docker_tag   = "v0.51.0"
  }
  iam_policy                             = {}
  infrastructure_live_repositories       = ["git@github.com:acme/infrastructure-live.git"]
  infrastructure_live_repositories_regex = []
  repo_access_ssh_key_secrets_manager_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:SSHKey-AbCdEf"
  repo_access_https_tokens = {
    github_token_secrets_manager_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:GitHubPAT-AbCdEf"
  }
  secrets_manager_env_vars = {}
  environment_vars = {
    TF_IN_AUTOMATION = "1"
  }
}

terraform_applier_config = {
  container_image = {
    docker_image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/deploy-runner"
    docker_tag   = "v0.51.0"
  }
  iam_policy = {
    DeployAccess = {
      actions   = ["*"]
      resources = ["*"]
      effect    = "Allow"
    }
  }
  infrastructure_live_repositories = [
    "git@github.com:acme/infrastructure-live.git",
    "git@github.com:acme/infrastructure-modules.git",
  ]
  infrastructure_live_repositories_regex = ["git@github.com:acme/live-[a-z]+\\.git"]
  allowed_update_variable_names          = ["tag", "docker_tag", "ami_version_tag", "ami"]
  allowed_apply_git_refs                 = ["main", "origin/main"]
  machine_user_git_info = {
    name  = "acme-ci"
    email = "ci@acme.example"
  }
  repo_access_ssh_key_secrets_manager_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:SSHKey-AbCdEf"
  repo_access_https_tokens                = {}
  secrets_manager_env_vars = {
    GITHUB_OAUTH_TOKEN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:GitHubPAT-AbCdEf"
  }
  environment_vars = {}
}
