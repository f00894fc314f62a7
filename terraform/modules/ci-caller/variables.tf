variable "prefix" {
  description = "The deployment's resource name prefix (the deployer module's prefix output)."
  type        = string
}

variable "request_queue_arn" {
  description = "The deployment's request queue (the deployer module's request_queue_arn output)."
  type        = string
}

variable "log_group_arns" {
  description = "The deployment's task log group and journal (the deployer module's log_group_arns output)."
  type        = list(string)
}

variable "lease_table_arn" {
  description = "The deployment's lane lease table (the deployer module's lease_table_arn output), read by \"deployer status\" to say why a queued job waits. Without it, status cannot count a lane's running jobs."
  type        = string
  default     = null
}

variable "dead_letter_queue_arns" {
  description = "The deployment's dead-letter queues (the deployer module's dead_letter_queue_arns output). Given only with operator = true."
  type        = list(string)
  default     = []
}

variable "operator" {
  description = "Also allow the dlq commands (list, show, replay, purge): for people, not CI."
  type        = bool
  default     = false
}

variable "role_names" {
  description = "IAM roles to attach the policy to (they must also be listed in the deployer module's callers, and match allowed_callers)."
  type        = list(string)
  default     = []
}

variable "policy_name" {
  description = "Name of the inline policy attached to each role."
  type        = string
  default     = "deployer-caller"
}
