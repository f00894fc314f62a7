# A whole deployment: the backend with its Lambdas and a worker service,
# and a CI role allowed to call it. Build the Lambda packages first:
#
#   make lambda GATEKEEPER_CONFIG=path/to/deployer.yaml
#
# then: terraform init && terraform apply -var region=eu-west-1 ...

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

module "deployer" {
  source = "../../modules/deployer"

  prefix          = var.prefix
  lanes           = ["default", "ami-builds"]
  callers         = [aws_iam_role.ci]
  gatekeeper_zip  = "${var.dist}/gatekeeper.zip"
  logshipper_zip  = "${var.dist}/logshipper.zip"
  worker_image    = var.worker_image
  subnets         = var.subnets
  security_groups = var.security_groups

  task_definitions = {
    terraform-planner = { image = "public.ecr.aws/hashicorp/terraform:1.11" }
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

output "caller_environment" {
  description = "What CI sets to call this deployment."
  value = {
    DEPLOYER_BACKEND    = "aws"
    DEPLOYER_AWS_REGION = module.deployer.region
    DEPLOYER_PREFIX     = module.deployer.prefix
  }
}

output "environment" {
  description = "The components' environment (workers you run yourself)."
  value       = module.deployer.environment
}
