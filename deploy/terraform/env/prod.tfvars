environment            = "prod"
aws_region             = "us-east-1"
shard_count            = 1
shard_counts           = { ride_events = 2, ride_predictions = 2 }
stream_retention_hours = 48
db_instance_class      = "db.t4g.medium"
db_multi_az            = true
instance_type          = "t4g.medium"
lambda_memory_mb       = 1024
lambda_parallelization = 2
log_retention_days     = 90
service_roles          = ["serve"]
