# The four Kinesis streams tripcast uses. Their names are fixed by tripcast
# (ride_events, ride_predictions, ride_events_dlq, ride_completed), so each
# environment lives in its own AWS account or region.

resource "aws_kinesis_stream" "this" {
  for_each         = toset(var.stream_names)
  name             = each.value
  shard_count      = var.stream_mode == "PROVISIONED" ? lookup(var.shard_counts, each.value, var.shard_count) : null
  retention_period = var.retention_hours
  encryption_type  = "KMS"
  kms_key_id       = "alias/aws/kinesis"
  tags             = merge(var.tags, { Name = each.value })

  stream_mode_details {
    stream_mode = var.stream_mode
  }
}
