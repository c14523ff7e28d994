# terraform init -backend-config=env/stg.backend.hcl
# bucket: the bootstrap root's state_bucket output (tripcast-tfstate-<account id>).
bucket         = "tripcast-tfstate-ACCOUNT_ID"
key            = "tripcast/stg/terraform.tfstate"
region         = "us-east-1"
dynamodb_table = "tripcast-tflock"
encrypt        = true
