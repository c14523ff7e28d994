# Buckets: data (tripcast's blob store: raw TLC files, datasets, model
# artifacts and the parquet prediction log under predictions/), artifacts
# (release binaries and Lambda zips) and reports (batch outputs and
# monitoring reports). All private, versioned and encrypted.

locals {
  buckets = {
    data      = "${var.name_prefix}-data-${var.account_id}"
    artifacts = "${var.name_prefix}-artifacts-${var.account_id}"
    reports   = "${var.name_prefix}-reports-${var.account_id}"
  }
}

resource "aws_s3_bucket" "this" {
  for_each      = local.buckets
  bucket        = each.value
  force_destroy = var.force_destroy
  tags          = merge(var.tags, { Name = each.value, Purpose = each.key })
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = aws_s3_bucket.this
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# The prediction log is written as one parquet file per hour and model under
# predictions/ (compacted after the hour ends); old hours move to Infrequent
# Access, then expire. Overwritten versions (compaction replaces files) are
# kept only briefly.
resource "aws_s3_bucket_lifecycle_configuration" "data" {
  bucket = aws_s3_bucket.this["data"].id

  rule {
    id     = "prediction-log-hours"
    status = "Enabled"
    filter {
      prefix = "predictions/"
    }
    transition {
      days          = var.prediction_log_ia_days
      storage_class = "STANDARD_IA"
    }
    expiration {
      days = var.prediction_log_expire_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_days
    }
  }

  rule {
    id     = "noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "reports" {
  bucket = aws_s3_bucket.this["reports"].id

  rule {
    id     = "old-reports"
    status = "Enabled"
    filter {}
    expiration {
      days = var.report_expire_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_days
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.this["artifacts"].id

  rule {
    id     = "noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_days
    }
  }
}

# Deny any request that is not over TLS.
data "aws_iam_policy_document" "tls_only" {
  for_each = aws_s3_bucket.this
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      each.value.arn,
      "${each.value.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "tls_only" {
  for_each   = aws_s3_bucket.this
  bucket     = each.value.id
  policy     = data.aws_iam_policy_document.tls_only[each.key].json
  depends_on = [aws_s3_bucket_public_access_block.this]
}
