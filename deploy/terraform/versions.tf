terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.70"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # Partial configuration: terraform init -backend-config=env/<environment>.backend.hcl
  # (bucket and lock table come from the bootstrap root's outputs).
  backend "s3" {}
}
