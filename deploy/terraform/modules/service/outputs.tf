output "instance_id" {
  description = "EC2 instance id (aws ssm start-session --target <id>)."
  value       = aws_instance.this.id
}

output "private_ip" {
  description = "Private IP of the instance."
  value       = aws_instance.this.private_ip
}

output "http_endpoint" {
  description = "URL of the HTTP API (public IP when it has one)."
  value       = "http://${coalesce(aws_instance.this.public_ip, aws_instance.this.private_ip)}:${var.listen_port}"
}

output "security_group_id" {
  description = "Security group of the instance."
  value       = aws_security_group.this.id
}

output "log_group" {
  description = "CloudWatch log group of the service."
  value       = aws_cloudwatch_log_group.this.name
}

output "role_arn" {
  description = "IAM role of the instance."
  value       = aws_iam_role.this.arn
}
