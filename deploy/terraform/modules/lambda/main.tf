# tripcast lambda: the Kinesis handler as a Go function (provided.al2023,
# arm64, the bootstrap zip `make lambda` builds), its event source mapping on
# ride_events, its log group and alarms. The mapping targets the "live"
# alias: rolling back is pointing the alias at an earlier version.

locals {
  function_name = "${var.name_prefix}-predict"
  in_vpc        = length(var.subnet_ids) > 0
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${local.function_name}-lambda"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
  statement {
    sid = "ReadRideEvents"
    actions = [
      "kinesis:DescribeStream",
      "kinesis:DescribeStreamSummary",
      "kinesis:GetRecords",
      "kinesis:GetShardIterator",
      "kinesis:ListShards",
      "kinesis:SubscribeToShard",
    ]
    resources = [var.input_stream_arn]
  }
  statement {
    sid       = "PublishPredictionsAndDeadLetters"
    actions   = ["kinesis:DescribeStreamSummary", "kinesis:PutRecord", "kinesis:PutRecords"]
    resources = var.output_stream_arns
  }
  statement {
    sid       = "BlobStoreList"
    actions   = ["s3:ListBucket"]
    resources = [var.blob_bucket_arn]
  }
  statement {
    sid       = "BlobStoreObjects"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${var.blob_bucket_arn}/*"]
  }
  dynamic "statement" {
    for_each = local.in_vpc ? [1] : []
    content {
      sid = "VpcNetworkInterfaces"
      # ENI ids are not known before Lambda creates them: no narrower
      # resource exists for these actions.
      actions = [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
      ]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "${local.function_name}-lambda"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

resource "aws_lambda_function" "this" {
  function_name    = local.function_name
  description      = "tripcast lambda: ride duration predictions for Kinesis ride events"
  role             = aws_iam_role.this.arn
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"
  filename         = var.zip_path
  source_code_hash = filebase64sha256(var.zip_path)
  memory_size      = var.memory_mb
  timeout          = var.timeout_seconds
  publish          = true
  tags             = var.tags

  reserved_concurrent_executions = var.reserved_concurrency

  environment {
    variables = merge({
      TRIPCAST_DB             = var.database_url
      TRIPCAST_BLOB           = var.blob_url
      TRIPCAST_STREAM         = var.stream_url
      TRIPCAST_DATA_DIR       = "/tmp/tripcast"
      TRIPCAST_LOG_FORMAT     = "json"
      TRIPCAST_MODEL_NAME     = var.model_name
      PREDICTIONS_STREAM_NAME = var.predictions_stream_name
      TEST_RUN                = var.test_run ? "True" : "False"
    }, var.extra_env)
  }

  dynamic "vpc_config" {
    for_each = local.in_vpc ? [1] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.this.name
  }

  depends_on = [aws_iam_role_policy.this]
}

resource "aws_lambda_alias" "live" {
  name             = "live"
  description      = "The version the Kinesis mapping invokes (roll back by pointing it at an earlier version)."
  function_name    = aws_lambda_function.this.function_name
  function_version = coalesce(var.live_version, aws_lambda_function.this.version)
}

resource "aws_lambda_event_source_mapping" "this" {
  function_name                      = aws_lambda_alias.live.arn
  event_source_arn                   = var.input_stream_arn
  starting_position                  = "LATEST"
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.batching_window_seconds
  parallelization_factor             = var.parallelization_factor
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = var.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.maximum_record_age_seconds
  function_response_types            = ["ReportBatchItemFailures"]
  tags                               = var.tags
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${local.function_name}-errors"
  alarm_description   = "tripcast lambda returned errors (whole batches failed; records are retried then skipped)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.error_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "iterator_age" {
  alarm_name          = "${local.function_name}-iterator-age"
  alarm_description   = "tripcast lambda falls behind ride_events: the oldest unprocessed record is older than the threshold."
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = var.iterator_age_threshold_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}
