variable "project_name" {
  description = "Prefix of every resource name; the state bucket is <project_name>-tfstate-<account id>."
  type        = string
  default     = "tripcast"
}

variable "aws_region" {
  description = "AWS region of the state bucket and lock table."
  type        = string
  default     = "us-east-1"
}

variable "state_version_days" {
  description = "Days an overwritten state version is kept before it is deleted."
  type        = number
  default     = 90
}
