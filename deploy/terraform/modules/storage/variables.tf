variable "name_prefix" {
  description = "Prefix of the bucket names (<project>-<environment>)."
  type        = string
}

variable "account_id" {
  description = "AWS account id, appended to bucket names to make them globally unique."
  type        = string
}

variable "tags" {
  description = "Tags added to every bucket (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "force_destroy" {
  description = "Let terraform destroy delete non-empty buckets (stg only)."
  type        = bool
  default     = false
}

variable "prediction_log_ia_days" {
  description = "Days after which prediction-log hours move to S3 Standard-IA."
  type        = number
  default     = 30
}

variable "prediction_log_expire_days" {
  description = "Days after which prediction-log hours are deleted."
  type        = number
  default     = 400
}

variable "report_expire_days" {
  description = "Days after which reports are deleted."
  type        = number
  default     = 365
}

variable "noncurrent_days" {
  description = "Days an overwritten object version is kept."
  type        = number
  default     = 30
}
