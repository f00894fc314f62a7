# The standard deployment: the ECS deploy runner's four containers on
# deployer — docker-image-builder (images/kaniko), ami-builder,
# terraform-planner and terraform-applier (images/deploy-runner) — with a
# worker service and a CI role allowed to call them.
#
#   make images IMAGE_REPO=ACCOUNT.dkr.ecr.REGION.amazonaws.com/deployer   # and push them
#   make lambda        # the first time: a plan reads the zips
#   terraform init && terraform plan -out standard.plan -var ...
#   terraform show -json standard.plan | jq -r .planned_values.outputs.gatekeeper_config.value > deployer.yaml
#   make lambda GATEKEEPER_CONFIG=deployer.yaml
#   terraform apply -var ...
#
# (docs/aws.md, "The standard deployment": the gatekeeper reads its
# configuration from its package, so the configuration this module
# generates is packed before the gatekeeper is deployed.)

variable "region" {
  description = "Region of the deployment."
  type        = string
}

variable "prefix" {
  description = "Resource name prefix."
  type        = string
  default     = "deployer-"
}

variable "dist" {
  description = "Directory holding gatekeeper.zip and logshipper.zip (make lambda)."
  type        = string
  default     = "../../../dist"
}

variable "image_repo" {
  description = "Where make images pushed deploy-runner and kaniko (IMAGE_REPO)."
  type        = string
}

variable "image_tag" {
  description = "The tag of both images (VERSION of make images)."
  type        = string
}

variable "worker_image" {
  description = "Image of cmd/worker (images/worker/Dockerfile, make images); null runs no worker service."
  type        = string
  default     = null
}

variable "subnets" {
  description = "Subnets of tasks and workers."
  type        = list(string)
  default     = []
}

variable "security_groups" {
  description = "Security groups of tasks and workers."
  type        = list(string)
  default     = []
}

variable "ci_trusted_principal" {
  description = "ARN of the principal (an OIDC provider, an account) that may assume the CI role."
  type        = string
}

variable "infrastructure_live_repositories" {
  description = "The repositories the planner and applier deploy (git URLs)."
  type        = list(string)
}

variable "app_repositories_regex" {
  description = "Repositories the image builders may build from, as regexes."
  type        = list(string)
}

variable "github_token_secrets_manager_arn" {
  description = "Secrets Manager entry holding the machine user's GitHub token (the standard scripts clone over https with it, as GITHUB_OAUTH_TOKEN)."
  type        = string
}

provider "aws" {
  region = var.region
}

data "aws_iam_policy_document" "ci_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = [var.ci_trusted_principal]
    }
  }
}

resource "aws_iam_role" "ci" {
  name               = "${var.prefix}ci"
  assume_role_policy = data.aws_iam_policy_document.ci_trust.json
}

locals {
  deploy_runner = { docker_image = "${var.image_repo}/deploy-runner", docker_tag = var.image_tag }
  kaniko        = { docker_image = "${var.image_repo}/kaniko", docker_tag = var.image_tag }
}

module "deployer" {
  source = "../../modules/deployer"

  prefix          = var.prefix
  callers         = [aws_iam_role.ci]
  gatekeeper_zip  = "${var.dist}/gatekeeper.zip"
  logshipper_zip  = "${var.dist}/logshipper.zip"
  worker_image    = var.worker_image
  subnets         = var.subnets
  security_groups = var.security_groups

  docker_image_builder_config = {
    container_image     = local.kaniko
    allowed_repos_regex = var.app_repositories_regex
    iam_policy = {
      PushImages = {
        actions   = ["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        resources = ["*"]
      }
    }
  }

  ami_builder_config = {
    container_image          = local.deploy_runner
    allowed_repos_regex      = var.app_repositories_regex
    repo_access_https_tokens = { github_token_secrets_manager_arn = var.github_token_secrets_manager_arn }
    iam_policy = {
      BuildAMIs = {
        actions   = ["ec2:*"]
        resources = ["*"]
      }
    }
  }

  terraform_planner_config = {
    container_image                  = local.deploy_runner
    infrastructure_live_repositories = var.infrastructure_live_repositories
    repo_access_https_tokens         = { github_token_secrets_manager_arn = var.github_token_secrets_manager_arn }
    iam_policy = {
      ReadEverything = {
        actions   = ["*:Describe*", "*:Get*", "*:List*", "s3:*", "dynamodb:*"]
        resources = ["*"]
      }
    }
  }

  terraform_applier_config = {
    container_image                  = local.deploy_runner
    infrastructure_live_repositories = var.infrastructure_live_repositories
    repo_access_https_tokens         = { github_token_secrets_manager_arn = var.github_token_secrets_manager_arn }
    allowed_apply_git_refs           = ["main"]
    allowed_update_variable_names    = ["tag", "docker_tag", "ami_version_tag", "ami"]
    machine_user_git_info            = { name = "deployer", email = "deployer@example.com" }
    iam_policy = {
      Deploy = {
        actions   = ["*"]
        resources = ["*"]
      }
    }
  }
}

module "ci" {
  source = "../../modules/ci-caller"

  prefix            = module.deployer.prefix
  request_queue_arn = module.deployer.request_queue_arn
  log_group_arns    = module.deployer.log_group_arns
  lease_table_arn   = module.deployer.lease_table_arn
  role_names        = [aws_iam_role.ci.name]
}

output "gatekeeper_config" {
  description = "The gatekeeper's configuration for the standard containers: pack it with make lambda GATEKEEPER_CONFIG=FILE."
  value       = module.deployer.gatekeeper_config
}

output "caller_environment" {
  description = "What CI sets to call this deployment."
  value = {
    DEPLOYER_BACKEND    = "aws"
    DEPLOYER_AWS_REGION = module.deployer.region
    DEPLOYER_PREFIX     = module.deployer.prefix
  }
}
