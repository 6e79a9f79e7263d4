# ECS Fargate: the cluster, one task definition and one service per app service (API, web and
# the optional billing worker). Terraform registers task definitions; releases (shipline) move
# the services between them, hence ignore_changes on the services' task_definition.

locals {
  # Billing worker topology: with a dedicated worker, the API never runs billing retries and
  # exactly one worker does; without one, the (single) API replica runs them itself.
  api_billing_env = {
    ENABLE_BILLING_RETRY_WORKER = var.enable_billing_worker ? "false" : "true"
  }
  worker_billing_env = {
    ENABLE_BILLING_RETRY_WORKER   = "true"
    BILLING_RETRY_DEPLOYMENT_MODE = "dedicated"
  }

  api_base_env = merge(
    {
      ENVIRONMENT               = var.environment
      APP_PUBLIC_URL            = local.app_public_url
      ALLOWED_HOSTS             = local.allowed_hosts
      SECRETS_PROVIDER          = var.secrets_provider
      AWS_REGION                = var.region
      AUTH_KEY_STORAGE_BACKEND  = "secret-manager"
      AUTH_KEY_STORAGE_PROVIDER = local.auth_key_storage_provider
      AUTH_KEY_SECRET_NAME      = local.auth_key_secret_name
      STORAGE_PROVIDER          = var.storage_provider
      S3_BUCKET                 = local.storage_bucket_name
    },
    # (for-expressions with a filter, not `cond ? {...} : {}`: both branches must share a type)
    { for name, value in { AWS_SM_SIGNING_SECRET_ARN = var.aws_sm_signing_secret_arn } : name => value if var.secrets_provider == "aws_sm" },
    var.api_env,
  )

  web_base_env = merge({ API_BASE_URL = local.api_base_url }, var.web_env)

  all_services = {
    api = {
      service_name  = "${local.name}-api"
      container     = "api"
      image         = var.api_image
      port          = var.api_container_port
      command       = null
      environment   = merge(local.api_base_env, local.api_billing_env)
      secrets       = var.api_secrets
      desired_count = var.api_desired_count
      min_healthy   = 100
      max_percent   = 200
    }
    web = {
      service_name  = "${local.name}-web"
      container     = "web"
      image         = var.web_image
      port          = var.web_container_port
      command       = null
      environment   = local.web_base_env
      secrets       = var.web_secrets
      desired_count = var.web_desired_count
      min_healthy   = 100
      max_percent   = 200
    }
    # Same image and settings as the API; retries must never run twice, so a deploy stops the
    # old worker before starting the new one.
    worker = {
      service_name  = "${local.name}-billing-worker"
      container     = "api"
      image         = var.api_image
      port          = null
      command       = var.worker_command
      environment   = merge(local.api_base_env, local.worker_billing_env)
      secrets       = var.api_secrets
      desired_count = var.worker_desired_count
      min_healthy   = 0
      max_percent   = 100
    }
  }

  services = { for key, service in local.all_services : key => service if key != "worker" || var.enable_billing_worker }
}

resource "aws_ecs_cluster" "main" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_cluster_capacity_providers" "main" {
  cluster_name       = aws_ecs_cluster.main.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_ecs_task_definition" "this" {
  for_each = local.services

  family                   = "${local.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_sizes[each.key].cpu
  memory                   = var.task_sizes[each.key].memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  # Old revisions stay registered: rollbacks return services to them.
  skip_destroy = true

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # A writable /tmp beside the read-only root filesystem.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([
    merge(
      {
        name                   = each.value.container
        image                  = each.value.image
        essential              = true
        readonlyRootFilesystem = var.readonly_root_filesystem
        environment            = [for name in sort(keys(each.value.environment)) : { name = name, value = each.value.environment[name] }]
        secrets                = [for name in sort(keys(each.value.secrets)) : { name = name, valueFrom = each.value.secrets[name] }]
        mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
        portMappings           = each.value.port == null ? [] : [{ containerPort = each.value.port, protocol = "tcp" }]
        linuxParameters        = { initProcessEnabled = true }
        logConfiguration = {
          logDriver = "awslogs"
          options = {
            awslogs-group         = aws_cloudwatch_log_group.service[each.key].name
            awslogs-region        = var.region
            awslogs-stream-prefix = each.key
          }
        }
      },
      { for key, value in { command = each.value.command } : key => value if value != null },
      { for key, value in { repositoryCredentials = { credentialsParameter = one(aws_secretsmanager_secret.registry[*].arn) } } : key => value if local.use_registry_credentials },
    )
  ])
}

resource "aws_ecs_service" "this" {
  for_each = local.services

  name                    = each.value.service_name
  cluster                 = aws_ecs_cluster.main.arn
  task_definition         = aws_ecs_task_definition.this[each.key].arn
  desired_count           = each.value.desired_count
  launch_type             = "FARGATE"
  platform_version        = "LATEST"
  propagate_tags          = "SERVICE"
  enable_ecs_managed_tags = true

  deployment_minimum_healthy_percent = each.value.min_healthy
  deployment_maximum_percent         = each.value.max_percent
  health_check_grace_period_seconds  = each.value.port == null ? null : 60

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.services.id]
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = contains(keys(local.load_balanced), each.key) ? [each.key] : []

    content {
      target_group_arn = aws_lb_target_group.this[load_balancer.value].arn
      container_name   = each.value.container
      container_port   = each.value.port
    }
  }

  # Releases move services between task definitions (shipline deploy/rollback); Terraform
  # registers new revisions but does not move the services itself. The running count is
  # shipline's too after creation (rollback --scale-to-zero, rollbacks, autoscaling): the
  # *_desired_count variables set it once, an apply never resets it.
  lifecycle {
    ignore_changes = [task_definition, desired_count]
  }

  depends_on = [aws_lb_listener.http, aws_lb_listener.https]
}
