variable "name_prefix" {
  description = "Prefix of resource names (<project>-<environment>); the function is <name_prefix>-predict."
  type        = string
}

variable "zip_path" {
  description = "Path of the Lambda zip built by `make lambda` (holds the linux/arm64 bootstrap)."
  type        = string
}

variable "input_stream_arn" {
  description = "ARN of the ride_events stream the function consumes."
  type        = string
}

variable "output_stream_arns" {
  description = "ARNs of the streams the function publishes to: ride_predictions and ride_events_dlq."
  type        = list(string)
}

variable "blob_bucket_arn" {
  description = "ARN of the data bucket (tripcast's blob store: model artifacts, prediction log)."
  type        = string
}

variable "blob_url" {
  description = "TRIPCAST_BLOB, e.g. s3://bucket?region=us-east-1."
  type        = string
}

variable "database_url" {
  description = "TRIPCAST_DB: the postgres:// URL of the metadata database (registry, prediction log, checkpoints)."
  type        = string
  sensitive   = true
}

variable "stream_url" {
  description = "TRIPCAST_STREAM, e.g. kinesis://aws?region=us-east-1."
  type        = string
}

variable "model_name" {
  description = "TRIPCAST_MODEL_NAME: the registered model whose champion is served."
  type        = string
  default     = "ride_duration_prediction_model"
}

variable "predictions_stream_name" {
  description = "PREDICTIONS_STREAM_NAME: the stream predictions are published to (the course's variable)."
  type        = string
  default     = "ride_predictions"
}

variable "test_run" {
  description = "TEST_RUN: answer without publishing (the course's test mode)."
  type        = bool
  default     = false
}

variable "extra_env" {
  description = "More environment variables (e.g. RUN_ID, MODEL_LOCATION, TRIPCAST_LOG_LEVEL)."
  type        = map(string)
  default     = {}
}

variable "memory_mb" {
  description = "Function memory in MB (CPU grows with it)."
  type        = number
  default     = 512
}

variable "timeout_seconds" {
  description = "Function timeout in seconds (model load on a cold start included)."
  type        = number
  default     = 60
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions (-1: unreserved)."
  type        = number
  default     = -1
}

variable "live_version" {
  description = "Function version the live alias points at; null: the version this apply publishes. Set it to roll back."
  type        = string
  default     = null
}

variable "batch_size" {
  description = "Most records per invocation."
  type        = number
  default     = 100
}

variable "batching_window_seconds" {
  description = "How long Lambda gathers records before invoking (0: at once)."
  type        = number
  default     = 1
}

variable "parallelization_factor" {
  description = "Concurrent batches per shard (1 to 10); order is kept per partition key."
  type        = number
  default     = 1
}

variable "maximum_retry_attempts" {
  description = "Retries of a failing batch (bisected on each error) before its records are skipped."
  type        = number
  default     = 5
}

variable "maximum_record_age_seconds" {
  description = "Records older than this are skipped (-1: until they expire from the stream)."
  type        = number
  default     = 3600
}

variable "subnet_ids" {
  description = "Subnets for the function when the database is in a VPC (empty: no VPC)."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups of the function in the VPC."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Days the function's CloudWatch logs are kept."
  type        = number
  default     = 30
}

variable "error_threshold" {
  description = "Errors per 5 minutes above which the errors alarm fires."
  type        = number
  default     = 0
}

variable "iterator_age_threshold_ms" {
  description = "Iterator age (ms) above which, for 5 minutes, the lag alarm fires."
  type        = number
  default     = 60000
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm changes state (an SNS topic)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
