variable "project_name" {
  description = "Project name: the prefix of every resource name and the Project tag."
  type        = string
  default     = "tripcast"
}

variable "aws_region" {
  description = "AWS region of every resource."
  type        = string
  default     = "us-east-1"
}

variable "environment" {
  description = "Environment name (stg or prod): part of every resource name and the Environment tag."
  type        = string
  default     = "stg"
  validation {
    condition     = contains(["stg", "prod"], var.environment)
    error_message = "environment must be stg or prod."
  }
}

variable "extra_tags" {
  description = "Tags added to every resource besides Project, Environment and ManagedBy (e.g. CostCenter)."
  type        = map(string)
  default     = {}
}

variable "vpc_id" {
  description = "VPC for the instance, database and endpoints (empty: the account's default VPC)."
  type        = string
  default     = ""
}

variable "subnet_ids" {
  description = "Subnets in vpc_id (two or more AZs; empty: every subnet of the VPC). The instance goes in the first."
  type        = list(string)
  default     = []
}

variable "model_name" {
  description = "Registered model whose champion the Lambda and the service serve (TRIPCAST_MODEL_NAME)."
  type        = string
  default     = "ride_duration_prediction_model"
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

variable "stream_mode" {
  description = "Kinesis capacity mode: PROVISIONED or ON_DEMAND."
  type        = string
  default     = "PROVISIONED"
}

variable "shard_count" {
  description = "Shards per Kinesis stream in PROVISIONED mode."
  type        = number
  default     = 1
}

variable "shard_counts" {
  description = "Per-stream shard counts overriding shard_count, e.g. { ride_events = 4, ride_predictions = 4 }."
  type        = map(number)
  default     = {}
}

variable "stream_retention_hours" {
  description = "Hours Kinesis keeps records (24 to 8760)."
  type        = number
  default     = 24
}

variable "enable_database" {
  description = "Create an RDS PostgreSQL metadata database (false: give database_url)."
  type        = bool
  default     = true
}

variable "database_url" {
  description = "TRIPCAST_DB when enable_database is false: a postgres:// URL reachable from Lambda and the instance."
  type        = string
  default     = ""
  sensitive   = true
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "db_multi_az" {
  description = "Run the database with a standby in a second AZ."
  type        = bool
  default     = false
}

variable "lambda_zip" {
  description = "Path of the zip `make lambda` builds."
  type        = string
  default     = "../../dist/lambda.zip"
}

variable "lambda_test_run" {
  description = "Run the Lambda in the course's TEST_RUN mode (answer only, publish nothing)."
  type        = bool
  default     = false
}

variable "lambda_live_version" {
  description = "Lambda version the live alias points at (null: the one this apply publishes); set it to roll back."
  type        = string
  default     = null
}

variable "lambda_memory_mb" {
  description = "Lambda memory in MB."
  type        = number
  default     = 512
}

variable "lambda_batch_size" {
  description = "Most Kinesis records per Lambda invocation."
  type        = number
  default     = 100
}

variable "lambda_max_retries" {
  description = "Retries of a failing batch before its records are skipped."
  type        = number
  default     = 5
}

variable "lambda_parallelization" {
  description = "Concurrent Lambda batches per shard (1 to 10)."
  type        = number
  default     = 1
}

variable "iterator_age_alarm_ms" {
  description = "Lambda iterator age (ms) above which the lag alarm fires."
  type        = number
  default     = 60000
}

variable "enable_service" {
  description = "Create the EC2 instance running tripcast under systemd."
  type        = bool
  default     = true
}

variable "service_roles" {
  description = "tripcast roles the instance runs as systemd units (tripcast@<role>)."
  type        = list(string)
  default     = ["serve"]
}

variable "release_version" {
  description = "Release the instance installs: s3://<artifacts bucket>/releases/<release_version>/tripcast-linux-arm64."
  type        = string
  default     = "latest"
}

variable "instance_type" {
  description = "EC2 instance type of the service (arm64)."
  type        = string
  default     = "t4g.small"
}

variable "allowed_cidrs" {
  description = "CIDRs allowed to reach the service's HTTP API."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps logs."
  type        = number
  default     = 30
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alarms topic."
  type        = list(string)
  default     = []
}
