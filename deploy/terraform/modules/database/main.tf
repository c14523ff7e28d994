# Optional RDS PostgreSQL: tripcast's metadata database (runs, registry,
# prediction log, stream checkpoints). Private, encrypted, backed up; its URL
# (with a generated password) is written to an SSM SecureString parameter.

resource "random_password" "this" {
  length  = 32
  special = false
}

resource "aws_db_subnet_group" "this" {
  name       = var.name_prefix
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_security_group" "db" {
  name        = "${var.name_prefix}-db"
  description = "tripcast metadata database"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-db" })
}

# Clients join this group; the database admits only its members.
resource "aws_security_group" "clients" {
  name        = "${var.name_prefix}-db-clients"
  description = "clients of the tripcast metadata database"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-db-clients" })
}

resource "aws_vpc_security_group_ingress_rule" "postgres" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from database clients"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.clients.id
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "clients_postgres" {
  security_group_id            = aws_security_group.clients.id
  description                  = "PostgreSQL to the database"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.db.id
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "clients_https" {
  security_group_id = aws_security_group.clients.id
  description       = "AWS APIs through VPC endpoints"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
  tags              = var.tags
}

resource "aws_db_instance" "this" {
  identifier                      = var.name_prefix
  engine                          = "postgres"
  engine_version                  = var.engine_version
  instance_class                  = var.instance_class
  allocated_storage               = var.storage_gb
  max_allocated_storage           = var.max_storage_gb
  storage_type                    = "gp3"
  storage_encrypted               = true
  db_name                         = "tripcast"
  username                        = "tripcast"
  password                        = random_password.this.result
  db_subnet_group_name            = aws_db_subnet_group.this.name
  vpc_security_group_ids          = [aws_security_group.db.id]
  publicly_accessible             = false
  multi_az                        = var.multi_az
  backup_retention_period         = var.backup_days
  deletion_protection             = var.deletion_protection
  skip_final_snapshot             = !var.deletion_protection
  final_snapshot_identifier       = var.deletion_protection ? "${var.name_prefix}-final" : null
  auto_minor_version_upgrade      = true
  performance_insights_enabled    = var.performance_insights
  enabled_cloudwatch_logs_exports = ["postgresql"]
  tags                            = var.tags

  depends_on = [aws_cloudwatch_log_group.postgres]
}

resource "aws_cloudwatch_log_group" "postgres" {
  name              = "/aws/rds/instance/${var.name_prefix}/postgresql"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}
