# Secrets the blueprint itself owns. The app's secrets (signing secret, keyset, DATABASE_URL,
# REDIS_URL) are created outside Terraform and referenced by ARN (variables.tf), so their values
# never pass through Terraform.
#
# Two values do pass through it and therefore sit in the Terraform state: the registry password
# (an input) and the generated Redis AUTH token. Keep the state in the encrypted, private S3
# backend described in README.md.

locals {
  use_registry_credentials = var.registry_server != ""
}

resource "aws_secretsmanager_secret" "registry" {
  count = local.use_registry_credentials ? 1 : 0

  #checkov:skip=CKV2_AWS_57:A registry token (e.g. a GitHub PAT) is rotated at the registry, then here through registry_password; no rotation Lambda can mint one.
  name_prefix             = "${local.name}-registry-"
  description             = "Pull credentials of ${var.registry_server} for ${local.name}"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret_version" "registry" {
  count = local.use_registry_credentials ? 1 : 0

  secret_id = aws_secretsmanager_secret.registry[0].id
  secret_string = jsonencode({
    username = var.registry_username
    password = var.registry_password
  })
}

resource "aws_secretsmanager_secret" "redis_auth_token" {
  count = var.redis_require_auth_token ? 1 : 0

  #checkov:skip=CKV2_AWS_57:Rotating the AUTH token means ElastiCache's two-step ROTATE/SET update plus a new REDIS_URL secret; it is a planned change, not a rotation Lambda.
  name_prefix             = "${local.name}-redis-auth-token-"
  description             = "AUTH token of the ${local.name} Redis replication group (build REDIS_URL from it)"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret_version" "redis_auth_token" {
  count = var.redis_require_auth_token ? 1 : 0

  secret_id     = aws_secretsmanager_secret.redis_auth_token[0].id
  secret_string = random_password.redis_auth_token[0].result
}
