# tripcast on AWS: storage, Kinesis streams, the Lambda handler, one EC2
# instance running tripcast under systemd, an optional RDS PostgreSQL, logs,
# alarms. Every resource gets the provider's default_tags.

provider "aws" {
  region = var.aws_region
  default_tags {
    tags = merge({
      Project     = var.project_name
      Environment = var.environment
      ManagedBy   = "terraform"
    }, var.extra_tags)
  }
}

data "aws_caller_identity" "current" {}

locals {
  name_prefix  = "${var.project_name}-${var.environment}"
  account_id   = data.aws_caller_identity.current.account_id
  blob_url     = "s3://${module.storage.bucket_names["data"]}?region=${var.aws_region}"
  stream_url   = "kinesis://aws?region=${var.aws_region}&shards=${var.shard_count}"
  vpc_id       = var.vpc_id != "" ? var.vpc_id : data.aws_vpc.default[0].id
  subnet_ids   = length(var.subnet_ids) > 0 ? var.subnet_ids : data.aws_subnets.default[0].ids
  database_url = var.enable_database ? module.database[0].url : var.database_url
  # The Lambda joins the VPC only to reach a private RDS database.
  lambda_subnets = var.enable_database ? local.subnet_ids : []
}

# Network: the account's default VPC unless vpc_id and subnet_ids are given.
data "aws_vpc" "default" {
  count   = var.vpc_id == "" ? 1 : 0
  default = true
}

data "aws_subnets" "default" {
  count = length(var.subnet_ids) == 0 ? 1 : 0
  filter {
    name   = "vpc-id"
    values = [local.vpc_id]
  }
}

data "aws_vpc" "selected" {
  id = local.vpc_id
}

data "aws_route_tables" "selected" {
  vpc_id = local.vpc_id
}

# A Lambda in a VPC has no internet: it reaches S3 and Kinesis through endpoints.
resource "aws_vpc_endpoint" "s3" {
  count             = var.enable_database ? 1 : 0
  vpc_id            = local.vpc_id
  service_name      = "com.amazonaws.${var.aws_region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = data.aws_route_tables.selected.ids
  tags              = { Name = "${local.name_prefix}-s3" }
}

resource "aws_security_group" "endpoints" {
  count       = var.enable_database ? 1 : 0
  name        = "${local.name_prefix}-endpoints"
  description = "Kinesis interface endpoint"
  vpc_id      = local.vpc_id
  tags        = { Name = "${local.name_prefix}-endpoints" }
}

resource "aws_vpc_security_group_ingress_rule" "endpoints" {
  count             = var.enable_database ? 1 : 0
  security_group_id = aws_security_group.endpoints[0].id
  description       = "HTTPS from the VPC"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = data.aws_vpc.selected.cidr_block
}

resource "aws_vpc_endpoint" "kinesis" {
  count               = var.enable_database ? 1 : 0
  vpc_id              = local.vpc_id
  service_name        = "com.amazonaws.${var.aws_region}.kinesis-streams"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = local.subnet_ids
  security_group_ids  = [aws_security_group.endpoints[0].id]
  private_dns_enabled = true
  tags                = { Name = "${local.name_prefix}-kinesis" }
}

resource "aws_sns_topic" "alarms" {
  name              = "${local.name_prefix}-alarms"
  kms_master_key_id = "alias/aws/sns"
}

resource "aws_sns_topic_subscription" "alarm_email" {
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

module "storage" {
  source                     = "./modules/storage"
  name_prefix                = local.name_prefix
  account_id                 = local.account_id
  force_destroy              = var.environment != "prod"
  prediction_log_ia_days     = var.prediction_log_ia_days
  prediction_log_expire_days = var.prediction_log_expire_days
}

module "stream" {
  source          = "./modules/stream"
  stream_mode     = var.stream_mode
  shard_count     = var.shard_count
  shard_counts    = var.shard_counts
  retention_hours = var.stream_retention_hours
}

module "database" {
  count               = var.enable_database ? 1 : 0
  source              = "./modules/database"
  name_prefix         = local.name_prefix
  vpc_id              = local.vpc_id
  subnet_ids          = local.subnet_ids
  instance_class      = var.db_instance_class
  multi_az            = var.db_multi_az
  deletion_protection = var.environment == "prod"
  log_retention_days  = var.log_retention_days
}

resource "aws_ssm_parameter" "database_url" {
  name        = "/${local.name_prefix}/database_url"
  description = "TRIPCAST_DB of the ${var.environment} environment"
  type        = "SecureString"
  value       = local.database_url
}

module "lambda" {
  source                    = "./modules/lambda"
  name_prefix               = local.name_prefix
  zip_path                  = var.lambda_zip
  input_stream_arn          = module.stream.stream_arns["ride_events"]
  output_stream_arns        = [module.stream.stream_arns["ride_predictions"], module.stream.stream_arns["ride_events_dlq"]]
  blob_bucket_arn           = module.storage.bucket_arns["data"]
  blob_url                  = local.blob_url
  database_url              = local.database_url
  stream_url                = local.stream_url
  model_name                = var.model_name
  test_run                  = var.lambda_test_run
  live_version              = var.lambda_live_version
  memory_mb                 = var.lambda_memory_mb
  batch_size                = var.lambda_batch_size
  maximum_retry_attempts    = var.lambda_max_retries
  parallelization_factor    = var.lambda_parallelization
  subnet_ids                = local.lambda_subnets
  security_group_ids        = var.enable_database ? [module.database[0].client_security_group_id] : []
  log_retention_days        = var.log_retention_days
  iterator_age_threshold_ms = var.iterator_age_alarm_ms
  alarm_actions             = [aws_sns_topic.alarms.arn]
}

module "service" {
  count                       = var.enable_service ? 1 : 0
  source                      = "./modules/service"
  name_prefix                 = local.name_prefix
  aws_region                  = var.aws_region
  roles                       = var.service_roles
  binary_s3_uri               = "s3://${module.storage.bucket_names["artifacts"]}/releases/${var.release_version}/tripcast-linux-arm64"
  blob_url                    = local.blob_url
  stream_url                  = local.stream_url
  model_name                  = var.model_name
  database_url_parameter_name = aws_ssm_parameter.database_url.name
  database_url_parameter_arn  = aws_ssm_parameter.database_url.arn
  blob_bucket_arn             = module.storage.bucket_arns["data"]
  artifacts_bucket_arn        = module.storage.bucket_arns["artifacts"]
  stream_arns                 = values(module.stream.stream_arns)
  vpc_id                      = local.vpc_id
  vpc_cidr                    = data.aws_vpc.selected.cidr_block
  subnet_id                   = local.subnet_ids[0]
  allowed_cidrs               = var.allowed_cidrs
  extra_security_group_ids    = var.enable_database ? [module.database[0].client_security_group_id] : []
  instance_type               = var.instance_type
  log_retention_days          = var.log_retention_days
  alarm_actions               = [aws_sns_topic.alarms.arn]
}
