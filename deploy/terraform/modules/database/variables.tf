variable "name_prefix" {
  description = "Prefix of resource names (<project>-<environment>); also the RDS identifier."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the database."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets (two or more AZs) of the database subnet group."
  type        = list(string)
}

variable "engine_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "16"
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "storage_gb" {
  description = "Allocated storage in GB."
  type        = number
  default     = 20
}

variable "max_storage_gb" {
  description = "Storage autoscaling limit in GB."
  type        = number
  default     = 100
}

variable "multi_az" {
  description = "Standby in a second AZ (doubles the instance price)."
  type        = bool
  default     = false
}

variable "backup_days" {
  description = "Days automated backups are kept."
  type        = number
  default     = 7
}

variable "deletion_protection" {
  description = "Refuse deletion and take a final snapshot (prod)."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Days the database's CloudWatch logs are kept."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags added to every resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "performance_insights" {
  description = "Turn on Performance Insights (not offered on every small instance class)."
  type        = bool
  default     = false
}
