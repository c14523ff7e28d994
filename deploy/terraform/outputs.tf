output "bucket_names" {
  description = "S3 buckets by purpose: data (TRIPCAST_BLOB), artifacts (releases, Lambda zips), reports."
  value       = module.storage.bucket_names
}

output "blob_url" {
  description = "TRIPCAST_BLOB of this environment."
  value       = local.blob_url
}

output "stream_url" {
  description = "TRIPCAST_STREAM of this environment."
  value       = local.stream_url
}

output "stream_arns" {
  description = "Kinesis stream ARNs by name."
  value       = module.stream.stream_arns
}

output "database_endpoint" {
  description = "host:port of the RDS database (empty without enable_database)."
  value       = var.enable_database ? module.database[0].endpoint : ""
}

output "database_url_parameter" {
  description = "SSM parameter holding TRIPCAST_DB (aws ssm get-parameter --with-decryption --name ...)."
  value       = aws_ssm_parameter.database_url.name
}

output "lambda_function_name" {
  description = "Name of the Lambda function."
  value       = module.lambda.function_name
}

output "lambda_live_alias_arn" {
  description = "ARN of the Lambda's live alias (what the Kinesis mapping invokes)."
  value       = module.lambda.live_alias_arn
}

output "lambda_published_version" {
  description = "Lambda version this apply published."
  value       = module.lambda.published_version
}

output "lambda_live_version" {
  description = "Lambda version the live alias points at."
  value       = module.lambda.live_version
}

output "lambda_log_group" {
  description = "CloudWatch log group of the Lambda."
  value       = module.lambda.log_group
}

output "service_instance_id" {
  description = "EC2 instance id of the service (empty without enable_service)."
  value       = var.enable_service ? module.service[0].instance_id : ""
}

output "service_http_endpoint" {
  description = "URL of the service's HTTP API (empty without enable_service)."
  value       = var.enable_service ? module.service[0].http_endpoint : ""
}

output "service_log_group" {
  description = "CloudWatch log group of the service (empty without enable_service)."
  value       = var.enable_service ? module.service[0].log_group : ""
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify."
  value       = aws_sns_topic.alarms.arn
}
