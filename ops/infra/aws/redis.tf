# ElastiCache Redis: private, TLS in transit, encrypted at rest with the environment's key,
# an AUTH token when var.redis_require_auth_token (generated; kept in Secrets Manager, see
# secrets.tf). The app's REDIS_URL (rediss://, with the token) is passed through var.api_secrets.

resource "aws_elasticache_subnet_group" "main" {
  name       = local.name
  subnet_ids = aws_subnet.private[*].id
}

resource "random_password" "redis_auth_token" {
  count = var.redis_require_auth_token ? 1 : 0

  length  = 64
  special = false
}

resource "aws_elasticache_replication_group" "main" {
  replication_group_id = local.name
  description          = "Caches and streams of ${local.name}"
  engine               = "redis"
  engine_version       = var.redis_engine_version
  node_type            = var.redis_node_type
  port                 = 6379

  num_cache_clusters         = var.redis_num_cache_clusters
  automatic_failover_enabled = true
  multi_az_enabled           = true

  subnet_group_name  = aws_elasticache_subnet_group.main.name
  security_group_ids = [aws_security_group.redis.id]

  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.main.arn
  transit_encryption_enabled = true
  auth_token                 = var.redis_require_auth_token ? random_password.redis_auth_token[0].result : null

  auto_minor_version_upgrade = true
  snapshot_retention_limit   = 7
  snapshot_window            = "02:00-03:00"
  maintenance_window         = "sun:05:30-sun:06:30"
  apply_immediately          = false
}
