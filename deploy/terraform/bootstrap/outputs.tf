output "state_bucket" {
  description = "S3 bucket for the main root's state: the bucket of its backend config."
  value       = aws_s3_bucket.state.bucket
}

output "lock_table" {
  description = "DynamoDB table that locks the state: the dynamodb_table of the backend config."
  value       = aws_dynamodb_table.lock.name
}

output "aws_region" {
  description = "Region of the state bucket: the region of the backend config."
  value       = var.aws_region
}
