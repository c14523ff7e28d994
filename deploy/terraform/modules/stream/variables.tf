variable "stream_names" {
  description = "Kinesis streams to create: tripcast's ride events, predictions, dead letters and completed rides."
  type        = list(string)
  default     = ["ride_events", "ride_predictions", "ride_events_dlq", "ride_completed"]
}

variable "stream_mode" {
  description = "PROVISIONED (shard_count shards each) or ON_DEMAND."
  type        = string
  default     = "PROVISIONED"
  validation {
    condition     = contains(["PROVISIONED", "ON_DEMAND"], var.stream_mode)
    error_message = "stream_mode must be PROVISIONED or ON_DEMAND."
  }
}

variable "shard_count" {
  description = "Shards per stream in PROVISIONED mode (1 shard: 1 MB/s or 1000 records/s in)."
  type        = number
  default     = 1
}

variable "shard_counts" {
  description = "Per-stream shard counts overriding shard_count, e.g. { ride_events = 4 }."
  type        = map(number)
  default     = {}
}

variable "retention_hours" {
  description = "Hours records stay readable (24 to 8760; above 24 costs extra)."
  type        = number
  default     = 24
}

variable "tags" {
  description = "Tags added to every stream (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
