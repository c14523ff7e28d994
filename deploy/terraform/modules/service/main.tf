# One EC2 instance (Amazon Linux 2023, arm64) running tripcast under systemd:
# one tripcast@<role> unit per role (deploy/systemd/tripcast@.service),
# restarted by systemd when it exits. The binary comes from the artifacts
# bucket (make release; aws s3 cp), the database URL from SSM Parameter Store.

locals {
  name = "${var.name_prefix}-service"
  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    aws_region     = var.aws_region
    binary_s3_uri  = var.binary_s3_uri
    db_param       = var.database_url_parameter_name
    blob_url       = var.blob_url
    stream_url     = var.stream_url
    model_name     = var.model_name
    roles          = join(" ", [for r in var.roles : "tripcast@${r}"])
    unit           = file("${path.module}/../../../systemd/tripcast@.service")
    log_group      = aws_cloudwatch_log_group.this.name
    listen_port    = var.listen_port
    roles_for_logs = var.roles
  })
}

data "aws_ssm_parameter" "ami" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/${var.name_prefix}/service"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_security_group" "this" {
  name        = local.name
  description = "tripcast HTTP API"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = local.name })
}

resource "aws_vpc_security_group_ingress_rule" "http" {
  for_each          = toset(var.allowed_cidrs)
  security_group_id = aws_security_group.this.id
  description       = "tripcast HTTP API"
  ip_protocol       = "tcp"
  from_port         = var.listen_port
  to_port           = var.listen_port
  cidr_ipv4         = each.value
  tags              = var.tags
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.this.id
  description       = "AWS APIs (S3, Kinesis, SSM, CloudWatch) and package mirrors"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
  tags              = var.tags
}

resource "aws_vpc_security_group_egress_rule" "postgres" {
  security_group_id = aws_security_group.this.id
  description       = "metadata database"
  ip_protocol       = "tcp"
  from_port         = 5432
  to_port           = 5432
  cidr_ipv4         = var.vpc_cidr
  tags              = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = local.name
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "BlobStoreList"
    actions   = ["s3:ListBucket"]
    resources = [var.blob_bucket_arn]
  }
  statement {
    sid       = "BlobStoreObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.blob_bucket_arn}/*"]
  }
  statement {
    sid       = "DownloadRelease"
    actions   = ["s3:GetObject"]
    resources = ["${var.artifacts_bucket_arn}/releases/*"]
  }
  statement {
    sid = "Streams"
    actions = [
      "kinesis:DescribeStream",
      "kinesis:DescribeStreamSummary",
      "kinesis:ListShards",
      "kinesis:GetRecords",
      "kinesis:GetShardIterator",
      "kinesis:PutRecord",
      "kinesis:PutRecords",
    ]
    resources = var.stream_arns
  }
  statement {
    sid       = "DatabaseURL"
    actions   = ["ssm:GetParameter"]
    resources = [var.database_url_parameter_arn]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = local.name
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

# Shell access through SSM Session Manager instead of SSH (no key, no port 22).
resource "aws_iam_role_policy_attachment" "ssm" {
  count      = var.enable_ssm ? 1 : 0
  role       = aws_iam_role.this.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "this" {
  name = local.name
  role = aws_iam_role.this.name
  tags = var.tags
}

resource "aws_instance" "this" {
  ami                         = data.aws_ssm_parameter.ami.value
  instance_type               = var.instance_type
  subnet_id                   = var.subnet_id
  vpc_security_group_ids      = concat([aws_security_group.this.id], var.extra_security_group_ids)
  iam_instance_profile        = aws_iam_instance_profile.this.name
  associate_public_ip_address = var.public_ip
  user_data                   = local.user_data
  user_data_replace_on_change = true
  tags                        = merge(var.tags, { Name = local.name })
  volume_tags                 = merge(var.tags, { Name = local.name })

  metadata_options {
    http_tokens   = "required"
    http_endpoint = "enabled"
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = var.volume_gb
    encrypted   = true
  }

  lifecycle {
    ignore_changes = [ami]
  }
}

resource "aws_cloudwatch_metric_alarm" "status" {
  alarm_name          = "${local.name}-status-check"
  alarm_description   = "The tripcast instance fails its EC2 status checks."
  namespace           = "AWS/EC2"
  metric_name         = "StatusCheckFailed"
  dimensions          = { InstanceId = aws_instance.this.id }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}
