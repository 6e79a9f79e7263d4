# Names, derived settings and the account facts every other file uses.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first var.az_count zones are used (slice in locals), so a new zone does not change the network.
  state = "available"
}

locals {
  name       = "${var.project_name}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  azs        = slice(data.aws_availability_zones.available.names, 0, var.az_count)

  storage_bucket_name = var.storage_bucket_name != "" ? var.storage_bucket_name : "${local.name}-storage-${local.account_id}"
  history_bucket_name = var.history_bucket_name != "" ? var.history_bucket_name : "${local.name}-releases-${local.account_id}"
  logs_bucket_name    = "${local.name}-logs-${local.account_id}"

  # DNS: with a hosted zone the blueprint owns the certificate and the records.
  manage_dns      = var.route53_zone_id != ""
  certificate_arn = local.manage_dns ? one(aws_acm_certificate_validation.this[*].certificate_arn) : var.acm_certificate_arn
  scheme          = var.enable_https ? "https" : "http"

  # A domain, when given (with or without a managed zone), else the load balancer's DNS name
  # (plain HTTP only: no certificate matches it, see the domain names' validations).
  api_host = var.api_domain_name != "" ? var.api_domain_name : aws_lb.this["api"].dns_name
  web_host = var.app_domain_name != "" ? var.app_domain_name : aws_lb.this["web"].dns_name
  api_url  = "${local.scheme}://${local.api_host}"
  web_url  = "${local.scheme}://${local.web_host}"

  api_base_url   = var.api_base_url != "" ? var.api_base_url : local.api_url
  app_public_url = var.app_public_url != "" ? var.app_public_url : local.web_url
  # ALLOWED_HOSTS: every host the API is called on: its own (api_url) and API_BASE_URL's, which
  # may be another name (a CDN, a hand-made record). The web app's host is its own ALB's.
  api_base_url_host = lower(regex("^https?://([^/:]+)", local.api_base_url)[0])
  allowed_hosts     = join(",", distinct([local.api_host, local.api_base_url_host]))

  auth_key_storage_provider = coalesce(var.auth_key_storage_provider, var.secrets_provider)
  # For aws_sm the keyset is named by its ARN so IAM can be scoped to it.
  auth_key_secret_name = local.auth_key_storage_provider == "aws_sm" ? var.auth_key_secret_arn : var.auth_key_secret_name

  github_environment = var.github_environment != "" ? var.github_environment : var.environment
  create_deploy_role = var.github_repository != ""
  # The Terraform job runs in its own GitHub environment, so required reviewers can gate
  # infrastructure changes apart from releases.
  github_infra_environment = var.github_infra_environment != "" ? var.github_infra_environment : "${local.github_environment}-infra"
}
