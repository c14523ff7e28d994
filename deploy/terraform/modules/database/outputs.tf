output "endpoint" {
  description = "host:port of the database."
  value       = aws_db_instance.this.endpoint
}

output "url" {
  description = "TRIPCAST_DB URL with the generated password."
  value       = "postgres://tripcast:${random_password.this.result}@${aws_db_instance.this.endpoint}/tripcast?sslmode=require"
  sensitive   = true
}

output "client_security_group_id" {
  description = "Security group whose members may connect to the database."
  value       = aws_security_group.clients.id
}
