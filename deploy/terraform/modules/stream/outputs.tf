output "stream_arns" {
  description = "Stream ARNs by name."
  value       = { for k, s in aws_kinesis_stream.this : k => s.arn }
}

output "stream_names" {
  description = "Stream names."
  value       = [for s in aws_kinesis_stream.this : s.name]
}
