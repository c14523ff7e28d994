output "function_name" {
  description = "Lambda function name."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "Lambda function ARN."
  value       = aws_lambda_function.this.arn
}

output "published_version" {
  description = "Version this apply published."
  value       = aws_lambda_function.this.version
}

output "live_alias_arn" {
  description = "ARN of the live alias the Kinesis mapping invokes."
  value       = aws_lambda_alias.live.arn
}

output "live_version" {
  description = "Version the live alias points at."
  value       = aws_lambda_alias.live.function_version
}

output "log_group" {
  description = "CloudWatch log group of the function."
  value       = aws_cloudwatch_log_group.this.name
}

output "role_arn" {
  description = "IAM role of the function."
  value       = aws_iam_role.this.arn
}
