# Outputs read by releases. Inputs that set an app variable are output under the SAME name as
# the input (hosting guide: Terraform -> Env Mapping), with derived values filled in, so
# `shipline env from-terraform` maps them without knowing the blueprint.

# --- URLs ---------------------------------------------------------------------------------------

output "api_url" {
  description = "URL of the API (https://<api_domain_name>, else its load balancer's DNS name)."
  value       = local.api_url
}

output "web_url" {
  description = "URL of the web app (https://<app_domain_name>, else its load balancer's DNS name)."
  value       = local.web_url
}

output "api_load_balancer_dns_name" {
  description = "DNS name of the API load balancer (ALIAS target when records are made by hand)."
  value       = aws_lb.this["api"].dns_name
}

output "web_load_balancer_dns_name" {
  description = "DNS name of the web load balancer (ALIAS target when records are made by hand)."
  value       = aws_lb.this["web"].dns_name
}

output "load_balancer_zone_id" {
  description = "Route53 hosted zone ID of the load balancers (for ALIAS records made by hand)."
  value       = aws_lb.this["api"].zone_id
}

# --- ECS: what a release moves ------------------------------------------------------------------

output "cluster_name" {
  description = "ECS cluster."
  value       = aws_ecs_cluster.main.name
}

output "api_service_name" {
  description = "ECS service of the API."
  value       = aws_ecs_service.this["api"].name
}

output "web_service_name" {
  description = "ECS service of the web app."
  value       = aws_ecs_service.this["web"].name
}

output "worker_service_name" {
  description = "ECS service of the billing worker (null without enable_billing_worker)."
  value       = try(aws_ecs_service.this["worker"].name, null)
}

output "api_task_definition_arn" {
  description = "Task definition Terraform registered for the API (a release moves the service to it)."
  value       = aws_ecs_task_definition.this["api"].arn
}

output "web_task_definition_arn" {
  description = "Task definition Terraform registered for the web app."
  value       = aws_ecs_task_definition.this["web"].arn
}

output "worker_task_definition_arn" {
  description = "Task definition Terraform registered for the billing worker (null without it)."
  value       = try(aws_ecs_task_definition.this["worker"].arn, null)
}

output "private_subnet_ids" {
  description = "Private subnets of the tasks (one-off migration tasks run there too)."
  value       = aws_subnet.private[*].id
}

output "service_security_group_id" {
  description = "Security group of the tasks."
  value       = aws_security_group.services.id
}

output "history_bucket" {
  description = "Bucket of shipline's release records and lock (shipline.yml: history: s3://<this>/shipline)."
  value       = aws_s3_bucket.this["history"].bucket
}

output "github_deploy_role_arn" {
  description = "Role the deploy and rollback jobs assume (AWS_DEPLOY_ROLE_ARN of the GitHub environment <github_environment>; null without github_repository)."
  value       = one(aws_iam_role.github_deploy[*].arn)
}

output "github_infra_role_arn" {
  description = "Role the Terraform job assumes (AWS_INFRA_ROLE_ARN of the GitHub environment <github_environment>-infra; null without github_repository)."
  value       = one(aws_iam_role.github_infra[*].arn)
}

# --- Data stores ----------------------------------------------------------------------------------

output "db_endpoint" {
  description = "PostgreSQL host:port (build the DATABASE_URL secret from it)."
  value       = aws_db_instance.main.endpoint
}

output "db_master_user_secret_arn" {
  description = "Secrets Manager secret RDS keeps the master credentials in."
  value       = aws_db_instance.main.master_user_secret[0].secret_arn
}

output "redis_primary_endpoint" {
  description = "Redis primary endpoint (REDIS_URL is rediss://:<token>@<this>:6379)."
  value       = aws_elasticache_replication_group.main.primary_endpoint_address
}

output "redis_auth_token_secret_arn" {
  description = "Secret holding the Redis AUTH token (null without redis_require_auth_token)."
  value       = one(aws_secretsmanager_secret.redis_auth_token[*].arn)
}

# --- Inputs that set app variables, under the input's own name ---------------------------------

output "environment" {
  description = "ENVIRONMENT."
  value       = var.environment
}

output "region" {
  description = "AWS_REGION."
  value       = var.region
}

output "api_base_url" {
  description = "API_BASE_URL (the input, else derived from the API domain or load balancer)."
  value       = local.api_base_url
}

output "app_public_url" {
  description = "APP_PUBLIC_URL (the input, else derived from the app domain or load balancer)."
  value       = local.app_public_url
}

output "allowed_hosts" {
  description = "ALLOWED_HOSTS of the API, comma-separated: its domain (else its load balancer's DNS name) and the host of api_base_url."
  value       = local.allowed_hosts
}

output "secrets_provider" {
  description = "SECRETS_PROVIDER."
  value       = var.secrets_provider
}

output "aws_sm_signing_secret_arn" {
  description = "AWS_SM_SIGNING_SECRET_ARN."
  value       = var.aws_sm_signing_secret_arn
}

output "auth_key_secret_arn" {
  description = "AUTH_KEY_SECRET_NAME when the key storage provider is aws_sm."
  value       = var.auth_key_secret_arn
}

output "auth_key_secret_name" {
  description = "AUTH_KEY_SECRET_NAME for other key storage providers."
  value       = var.auth_key_secret_name
}

output "auth_key_storage_provider" {
  description = "AUTH_KEY_STORAGE_PROVIDER (defaults to secrets_provider)."
  value       = local.auth_key_storage_provider
}

output "storage_provider" {
  description = "STORAGE_PROVIDER."
  value       = var.storage_provider
}

output "storage_bucket_name" {
  description = "S3_BUCKET: the object-storage bucket."
  value       = aws_s3_bucket.this["storage"].bucket
}
