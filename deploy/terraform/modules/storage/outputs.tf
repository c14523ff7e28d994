output "bucket_names" {
  description = "Bucket names by purpose: data, artifacts, reports."
  value       = { for k, b in aws_s3_bucket.this : k => b.bucket }
}

output "bucket_arns" {
  description = "Bucket ARNs by purpose: data, artifacts, reports."
  value       = { for k, b in aws_s3_bucket.this : k => b.arn }
}
