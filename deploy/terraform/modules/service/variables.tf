variable "name_prefix" {
  description = "Prefix of resource names (<project>-<environment>)."
  type        = string
}

variable "aws_region" {
  description = "Region the instance calls AWS APIs in."
  type        = string
}

variable "roles" {
  description = "tripcast roles run as tripcast@<role> systemd units, e.g. [\"serve\"] or [\"serve\", \"worker\"]."
  type        = list(string)
  default     = ["serve"]
}

variable "binary_s3_uri" {
  description = "S3 URI of the linux/arm64 tripcast binary (make release; aws s3 cp dist/tripcast-linux-arm64 s3://<artifacts>/releases/<version>/tripcast)."
  type        = string
}

variable "blob_url" {
  description = "TRIPCAST_BLOB, e.g. s3://bucket?region=us-east-1."
  type        = string
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

variable "database_url_parameter_name" {
  description = "Name of the SSM SecureString parameter holding TRIPCAST_DB."
  type        = string
}

variable "database_url_parameter_arn" {
  description = "ARN of the SSM parameter holding TRIPCAST_DB (the instance may read only it)."
  type        = string
}

variable "blob_bucket_arn" {
  description = "ARN of the data bucket (tripcast's blob store)."
  type        = string
}

variable "artifacts_bucket_arn" {
  description = "ARN of the artifacts bucket holding releases/."
  type        = string
}

variable "stream_arns" {
  description = "ARNs of the Kinesis streams the roles read and write."
  type        = list(string)
}

variable "vpc_id" {
  description = "VPC of the instance."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC (egress to the database)."
  type        = string
}

variable "subnet_id" {
  description = "Subnet of the instance."
  type        = string
}

variable "public_ip" {
  description = "Give the instance a public IP (a public subnet without NAT needs one to reach AWS APIs)."
  type        = bool
  default     = true
}

variable "allowed_cidrs" {
  description = "CIDRs allowed to reach the HTTP API (put a load balancer or VPN in front for the public)."
  type        = list(string)
  default     = []
}

variable "listen_port" {
  description = "Port of the HTTP API."
  type        = number
  default     = 8080
}

variable "extra_security_group_ids" {
  description = "More security groups for the instance (e.g. the database clients' group)."
  type        = list(string)
  default     = []
}

variable "instance_type" {
  description = "EC2 instance type (arm64: t4g, m7g, c7g)."
  type        = string
  default     = "t4g.small"
}

variable "volume_gb" {
  description = "Root volume size in GB (gp3, encrypted)."
  type        = number
  default     = 20
}

variable "enable_ssm" {
  description = "Attach AmazonSSMManagedInstanceCore for shell access through Session Manager."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Days the service's CloudWatch logs are kept."
  type        = number
  default     = 30
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
