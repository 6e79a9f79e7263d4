# Inputs of the blueprint. Inputs that set an app variable keep the name of the hosting guide's
# "Terraform -> Env Mapping" table and are output under the same name (see outputs.tf).

# ---------------------------------------------------------------------------------------------
# Identity and placement
# ---------------------------------------------------------------------------------------------

variable "project_name" {
  description = "Prefix of every resource name (ALBs are named <project_name>-<environment>-api and -web)."
  type        = string
  default     = "agent-saas"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.project_name))
    error_message = "project_name must be 2-20 characters: lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Deployment environment label (ENVIRONMENT): used in names and by the app's production safety checks."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,11}$", var.environment))
    error_message = "environment must be 2-12 characters: lower-case letters, digits and hyphens, starting with a letter."
  }

  # Load balancers and target groups are named <project_name>-<environment>-api (32 at most).
  validation {
    condition     = length(var.project_name) + length(var.environment) <= 27
    error_message = "project_name and environment together must be 27 characters or fewer (load balancer names are limited to 32)."
  }
}

variable "region" {
  description = "AWS region of every resource (AWS_REGION). ACM certificates for the ALBs must be issued here."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as us-east-1."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "CIDR block of the VPC; split into one public and one private subnet per availability zone."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(regex("^[0-9.]+/([0-9]|1[0-9]|20)$", var.vpc_cidr)) && can(cidrnetmask(var.vpc_cidr))
    error_message = "vpc_cidr must be an IPv4 CIDR block of /20 or larger."
  }
}

variable "az_count" {
  description = "Number of availability zones (2 or 3)."
  type        = number
  default     = 2

  validation {
    condition     = contains([2, 3], var.az_count)
    error_message = "az_count must be 2 or 3."
  }
}

variable "nat_gateway_mode" {
  description = "\"per_az\": one NAT gateway per availability zone (survives an AZ outage); \"single\": one shared gateway (cheaper, dev)."
  type        = string
  default     = "per_az"

  validation {
    condition     = contains(["per_az", "single"], var.nat_gateway_mode)
    error_message = "nat_gateway_mode must be \"per_az\" or \"single\"."
  }
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups (containers, VPC flow logs, exported database logs)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

# ---------------------------------------------------------------------------------------------
# Load balancers, DNS and HTTPS
# ---------------------------------------------------------------------------------------------

variable "enable_https" {
  description = "Serve HTTPS with an ACM certificate and redirect HTTP to it. false is for dev/sandbox only."
  type        = bool
  default     = true
}

variable "acm_certificate_arn" {
  description = "ACM certificate (in var.region) covering both domains. Not needed when route53_zone_id is set: the blueprint then requests and validates one."
  type        = string
  default     = ""

  validation {
    condition     = var.acm_certificate_arn == "" || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.acm_certificate_arn))
    error_message = "acm_certificate_arn must be an ACM certificate ARN."
  }

  validation {
    condition     = !var.enable_https || var.acm_certificate_arn != "" || var.route53_zone_id != ""
    error_message = "enable_https=true needs a certificate: set acm_certificate_arn, or route53_zone_id with api_domain_name and app_domain_name so the blueprint requests one."
  }
}

variable "route53_zone_id" {
  description = "Route53 hosted zone of api_domain_name and app_domain_name. When set, the blueprint creates the ACM certificate, its DNS validation records and the ALIAS records."
  type        = string
  default     = ""

  validation {
    condition     = var.route53_zone_id == "" || (var.api_domain_name != "" && var.app_domain_name != "")
    error_message = "route53_zone_id needs api_domain_name and app_domain_name."
  }
}

variable "api_domain_name" {
  description = "Domain of the API, e.g. api.example.com: api_url, API_BASE_URL and ALLOWED_HOSTS use it; with route53_zone_id its records are created. Required with enable_https."
  type        = string
  default     = ""

  validation {
    condition     = var.api_domain_name == "" || can(regex("^([a-z0-9-]+\\.)+[a-z]{2,}$", var.api_domain_name))
    error_message = "api_domain_name must be a lower-case DNS name such as api.example.com."
  }

  # No certificate can match a load balancer's own DNS name (*.elb.amazonaws.com): with HTTPS
  # and no domain, api_url would be an https:// URL every client refuses.
  validation {
    condition     = !var.enable_https || var.api_domain_name != ""
    error_message = "enable_https=true needs api_domain_name (covered by the certificate): no certificate matches the load balancer's own DNS name. Set api_domain_name, or enable_https=false for dev/sandbox."
  }
}

variable "app_domain_name" {
  description = "Domain of the web app, e.g. app.example.com: web_url and APP_PUBLIC_URL use it; with route53_zone_id its records are created. Required with enable_https."
  type        = string
  default     = ""

  validation {
    condition     = var.app_domain_name == "" || can(regex("^([a-z0-9-]+\\.)+[a-z]{2,}$", var.app_domain_name))
    error_message = "app_domain_name must be a lower-case DNS name such as app.example.com."
  }

  validation {
    condition     = !var.enable_https || var.app_domain_name != ""
    error_message = "enable_https=true needs app_domain_name (covered by the certificate): no certificate matches the load balancer's own DNS name. Set app_domain_name, or enable_https=false for dev/sandbox."
  }
}

variable "alb_internal" {
  description = "Make both load balancers internal (private-only deployments)."
  type        = bool
  default     = false
}

variable "alb_ingress_cidrs" {
  description = "IPv4 CIDR blocks allowed to reach the load balancers on ports 80 and 443 (the NAT gateways' public IPs are added when this excludes them)."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.alb_ingress_cidrs) > 0 && alltrue([for cidr in var.alb_ingress_cidrs : can(cidrnetmask(cidr))])
    error_message = "alb_ingress_cidrs must be a non-empty list of IPv4 CIDR blocks."
  }
}

variable "alb_deletion_protection" {
  description = "Deletion protection of the load balancers. Set false only to tear a dev/sandbox environment down."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------------------------
# App settings mapped to environment variables (hosting guide: Terraform -> Env Mapping)
# ---------------------------------------------------------------------------------------------

variable "api_base_url" {
  description = "API_BASE_URL of the web app. Empty: api_url (from api_domain_name, else the API load balancer)."
  type        = string
  default     = ""

  # A host name (or IPv4 address) and an optional port: ALLOWED_HOSTS takes its host.
  validation {
    condition     = var.api_base_url == "" || can(regex("^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\\s]*)?$", var.api_base_url))
    error_message = "api_base_url must be an http(s) URL of a host name, without user info or spaces, such as https://api.example.com."
  }

  # Behind HTTPS, plain HTTP is redirected: a redirected POST loses its body, and CORS compares
  # the https:// origin the browser really uses.
  validation {
    condition     = !var.enable_https || var.api_base_url == "" || can(regex("^https://", var.api_base_url))
    error_message = "With enable_https=true, api_base_url must be an https:// URL (API_BASE_URL)."
  }
}

variable "app_public_url" {
  description = "APP_PUBLIC_URL of the API (web origin, CORS). Empty: web_url (from app_domain_name, else the web load balancer)."
  type        = string
  default     = ""

  # A host name (or IPv4 address) and an optional port: CORS compares its origin.
  validation {
    condition     = var.app_public_url == "" || can(regex("^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\\s]*)?$", var.app_public_url))
    error_message = "app_public_url must be an http(s) URL of a host name, without user info or spaces, such as https://app.example.com."
  }

  # Behind HTTPS, plain HTTP is redirected: a redirected POST loses its body, and CORS compares
  # the https:// origin the browser really uses.
  validation {
    condition     = !var.enable_https || var.app_public_url == "" || can(regex("^https://", var.app_public_url))
    error_message = "With enable_https=true, app_public_url must be an https:// URL (APP_PUBLIC_URL)."
  }
}

variable "secrets_provider" {
  description = "SECRETS_PROVIDER: aws_sm (the default for this blueprint), or vault_hcp, infisical_cloud, ... wired through api_env/api_secrets."
  type        = string
  default     = "aws_sm"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]*$", var.secrets_provider))
    error_message = "secrets_provider must be a provider name such as aws_sm, vault_hcp or infisical_cloud."
  }
}

variable "aws_sm_signing_secret_arn" {
  description = "AWS_SM_SIGNING_SECRET_ARN: the Secrets Manager secret holding the service-account signing secret. Required when secrets_provider=aws_sm."
  type        = string
  default     = ""

  validation {
    condition     = var.aws_sm_signing_secret_arn == "" || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.aws_sm_signing_secret_arn))
    error_message = "aws_sm_signing_secret_arn must be a Secrets Manager secret ARN."
  }

  validation {
    condition     = var.secrets_provider != "aws_sm" || var.aws_sm_signing_secret_arn != ""
    error_message = "secrets_provider=aws_sm needs aws_sm_signing_secret_arn."
  }
}

variable "auth_key_storage_provider" {
  description = "AUTH_KEY_STORAGE_PROVIDER: where the Ed25519 keyset lives. null: the same as secrets_provider."
  type        = string
  default     = null

  validation {
    condition     = var.auth_key_storage_provider == null || can(regex("^[a-z][a-z0-9_]*$", coalesce(var.auth_key_storage_provider, "x")))
    error_message = "auth_key_storage_provider must be a provider name such as aws_sm, or null to follow secrets_provider."
  }
}

variable "auth_key_secret_arn" {
  description = "AUTH_KEY_SECRET_NAME for aws_sm: ARN of the Secrets Manager secret holding the Ed25519 keyset JSON (an ARN, so IAM can be scoped to it). Required when the key storage provider is aws_sm."
  type        = string
  default     = ""

  validation {
    condition     = var.auth_key_secret_arn == "" || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.auth_key_secret_arn))
    error_message = "auth_key_secret_arn must be a Secrets Manager secret ARN."
  }

  validation {
    condition     = coalesce(var.auth_key_storage_provider, var.secrets_provider) != "aws_sm" || var.auth_key_secret_arn != ""
    error_message = "Key storage in aws_sm (auth_key_storage_provider, defaulting to secrets_provider) needs auth_key_secret_arn."
  }
}

variable "auth_key_secret_name" {
  description = "AUTH_KEY_SECRET_NAME for other providers (Vault/Infisical key or path). Ignored when the key storage provider is aws_sm."
  type        = string
  default     = ""

  validation {
    condition     = coalesce(var.auth_key_storage_provider, var.secrets_provider) == "aws_sm" || var.auth_key_secret_name != ""
    error_message = "A key storage provider other than aws_sm needs auth_key_secret_name."
  }
}

variable "storage_provider" {
  description = "STORAGE_PROVIDER: s3 for this blueprint (the bucket it creates)."
  type        = string
  default     = "s3"

  validation {
    condition     = var.storage_provider == "s3"
    error_message = "This blueprint creates an S3 bucket and grants the task role on it: storage_provider must be s3 (set STORAGE_PROVIDER through api_env for another provider)."
  }
}

variable "storage_bucket_name" {
  description = "S3_BUCKET: name of the object-storage bucket. Empty: <project_name>-<environment>-storage-<account id>."
  type        = string
  default     = ""

  validation {
    condition     = var.storage_bucket_name == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.storage_bucket_name))
    error_message = "storage_bucket_name must be a valid S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)."
  }
}

variable "history_bucket_name" {
  description = "Bucket of shipline's release records and lock. Empty: <project_name>-<environment>-releases-<account id>."
  type        = string
  default     = ""

  validation {
    condition     = var.history_bucket_name == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.history_bucket_name))
    error_message = "history_bucket_name must be a valid S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)."
  }
}

# ---------------------------------------------------------------------------------------------
# Containers
# ---------------------------------------------------------------------------------------------

variable "api_image" {
  description = "Image of the API and the billing worker, pinned by tag or digest (e.g. ghcr.io/acme/api:1.4.2 or ...@sha256:...)."
  type        = string

  validation {
    condition     = can(regex("^[^\\s:@]+(:[0-9]+)?/[^\\s]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$", var.api_image)) && !endswith(var.api_image, ":latest")
    error_message = "api_image must be a full image reference with a tag (not latest) or a sha256 digest."
  }
}

variable "web_image" {
  description = "Image of the web app, pinned by tag or digest."
  type        = string

  validation {
    condition     = can(regex("^[^\\s:@]+(:[0-9]+)?/[^\\s]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$", var.web_image)) && !endswith(var.web_image, ":latest")
    error_message = "web_image must be a full image reference with a tag (not latest) or a sha256 digest."
  }
}

variable "api_container_port" {
  description = "Port the API container listens on."
  type        = number
  default     = 8000
}

variable "web_container_port" {
  description = "Port the web container listens on."
  type        = number
  default     = 3000

  validation {
    condition     = var.web_container_port != var.api_container_port
    error_message = "web_container_port and api_container_port must differ (the tasks share one security group)."
  }
}

variable "api_desired_count" {
  description = "API tasks when the service is created (after that ECS and shipline own the count)."
  type        = number
  default     = 2

  validation {
    condition     = var.api_desired_count >= 0 && floor(var.api_desired_count) == var.api_desired_count
    error_message = "api_desired_count must be a whole number >= 0."
  }
}

variable "web_desired_count" {
  description = "Web tasks when the service is created (after that ECS and shipline own the count)."
  type        = number
  default     = 2

  validation {
    condition     = var.web_desired_count >= 0 && floor(var.web_desired_count) == var.web_desired_count
    error_message = "web_desired_count must be a whole number >= 0."
  }
}

variable "enable_billing_worker" {
  description = "Run billing retries in a dedicated worker service (required when the API runs more than one replica)."
  type        = bool
  default     = true

  validation {
    condition     = var.enable_billing_worker || var.api_desired_count <= 1
    error_message = "More than one API replica needs the dedicated billing worker (enable_billing_worker=true), or retries would run in every replica."
  }
}

variable "worker_desired_count" {
  description = "Billing-worker tasks when the service is created (when enable_billing_worker; after that ECS and shipline own the count)."
  type        = number
  default     = 1

  validation {
    condition     = var.worker_desired_count >= 0 && var.worker_desired_count <= 1
    error_message = "worker_desired_count must be 0 or 1: billing retries run in exactly one place."
  }
}

variable "worker_command" {
  description = "Command of the billing-worker container; null runs the API image's default command."
  type        = list(string)
  default     = null
}

variable "task_sizes" {
  description = "Fargate CPU units and memory (MiB) per service."
  type = map(object({
    cpu    = number
    memory = number
  }))
  default = {
    api    = { cpu = 512, memory = 1024 }
    web    = { cpu = 256, memory = 512 }
    worker = { cpu = 256, memory = 512 }
  }

  validation {
    condition     = alltrue([for key in ["api", "web", "worker"] : contains(keys(var.task_sizes), key)])
    error_message = "task_sizes must have entries for api, web and worker."
  }
}

variable "readonly_root_filesystem" {
  description = "Run containers with a read-only root filesystem (a writable /tmp is mounted)."
  type        = bool
  default     = true
}

variable "api_env" {
  description = "Extra plain environment of the API and worker. Never credentials: DATABASE_URL and REDIS_URL go in api_secrets."
  type        = map(string)
  default     = {}

  validation {
    condition     = length(setintersection(keys(var.api_env), ["DATABASE_URL", "REDIS_URL"])) == 0
    error_message = "DATABASE_URL and REDIS_URL must not be in api_env (task definitions would show them): put their Secrets Manager ARNs in api_secrets."
  }
}

variable "api_secrets" {
  description = "Environment of the API and worker injected from Secrets Manager or SSM: NAME = secret or parameter ARN (a Secrets Manager ARN may end in :json-key::). Must contain DATABASE_URL and REDIS_URL."
  type        = map(string)

  validation {
    condition     = alltrue([for name in ["DATABASE_URL", "REDIS_URL"] : contains(keys(var.api_secrets), name)])
    error_message = "api_secrets must contain DATABASE_URL and REDIS_URL (ARNs of the secrets holding them)."
  }

  validation {
    condition     = alltrue([for arn in values(var.api_secrets) : can(regex("^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:|ssm:[a-z0-9-]+:[0-9]{12}:parameter/).+$", arn))])
    error_message = "Every api_secrets value must be a Secrets Manager secret ARN or an SSM parameter ARN."
  }
}

variable "web_env" {
  description = "Extra plain environment of the web app."
  type        = map(string)
  default     = {}
}

variable "web_secrets" {
  description = "Environment of the web app injected from Secrets Manager or SSM: NAME = ARN."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for arn in values(var.web_secrets) : can(regex("^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:|ssm:[a-z0-9-]+:[0-9]{12}:parameter/).+$", arn))])
    error_message = "Every web_secrets value must be a Secrets Manager secret ARN or an SSM parameter ARN."
  }
}

variable "secrets_kms_key_arns" {
  description = "Customer-managed KMS keys that encrypt the secrets in api_secrets/web_secrets (the execution role may decrypt with them)."
  type        = list(string)
  default     = []
}

# ---------------------------------------------------------------------------------------------
# Private registry (GHCR); ECR needs none of this
# ---------------------------------------------------------------------------------------------

variable "registry_server" {
  description = "Private registry host (e.g. ghcr.io). Empty: images are pulled with the execution role (ECR or public)."
  type        = string
  default     = ""
}

variable "registry_username" {
  description = "User of the private registry."
  type        = string
  default     = ""
}

variable "registry_password" {
  description = "Token of the private registry; stored in a Secrets Manager secret used as the containers' repository credentials."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = (var.registry_server == "") == (var.registry_username == "") && (var.registry_server == "") == (var.registry_password == "")
    error_message = "Set registry_server, registry_username and registry_password together, or none of them."
  }
}

# ---------------------------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------------------------

variable "db_engine_version" {
  description = "PostgreSQL major version (minor upgrades are automatic; raising the major upgrades in the maintenance window)."
  type        = string
  default     = "16"
}

variable "db_instance_class" {
  description = "RDS instance class (medium or larger: Performance Insights is on)."
  type        = string
  default     = "db.t4g.medium"

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.db_instance_class)) && !can(regex("\\.(micro|small)$", var.db_instance_class))
    error_message = "db_instance_class must be an RDS class of size medium or larger, e.g. db.t4g.medium (Performance Insights does not run on micro/small)."
  }
}

variable "db_allocated_storage" {
  description = "Initial storage (GiB)."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage" {
  description = "Storage autoscaling ceiling (GiB)."
  type        = number
  default     = 200
}

variable "db_name" {
  description = "Name of the app database."
  type        = string
  default     = "app"
}

variable "db_username" {
  description = "Master user name. Its password is generated and kept by RDS in Secrets Manager (never in code or state)."
  type        = string
  default     = "app_admin"
}

variable "db_multi_az" {
  description = "Standby instance in a second availability zone."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Automated backup retention (days)."
  type        = number
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be 1-35: backups stay on."
  }
}

variable "db_deletion_protection" {
  description = "RDS deletion protection. Set false only to tear a dev/sandbox environment down."
  type        = bool
  default     = true
}

variable "db_skip_final_snapshot" {
  description = "Skip the final snapshot when the database is destroyed. Set true only for dev/sandbox teardown."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------------

variable "redis_engine_version" {
  description = "Redis OSS engine version."
  type        = string
  default     = "7.1"
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"
}

variable "redis_num_cache_clusters" {
  description = "Nodes in the replication group: a primary and at least one replica, for Multi-AZ automatic failover."
  type        = number
  default     = 2

  validation {
    condition     = var.redis_num_cache_clusters >= 2 && var.redis_num_cache_clusters <= 6
    error_message = "redis_num_cache_clusters must be 2-6 (automatic failover needs a replica)."
  }
}

variable "redis_require_auth_token" {
  description = "Require an AUTH token (generated, kept in Secrets Manager). REDIS_URL must then include it."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------------------------
# GitHub Actions roles (OIDC): the deploy role and the infra role
# ---------------------------------------------------------------------------------------------

variable "github_repository" {
  description = "owner/name of the repository whose workflows deploy this environment. Empty: no deploy role."
  type        = string
  default     = ""

  validation {
    condition     = var.github_repository == "" || can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name, without wildcards."
  }
}

variable "github_environment" {
  description = "GitHub environment the deploy job runs in (the token's sub is repo:<repository>:environment:<this>). Empty: var.environment."
  type        = string
  default     = ""

  validation {
    condition     = var.github_environment == "" || can(regex("^[A-Za-z0-9_.-]+$", var.github_environment))
    error_message = "github_environment must be a GitHub environment name without wildcards."
  }
}

variable "github_infra_environment" {
  description = "GitHub environment the Terraform job runs in, trusted by the infra role (repo:<repository>:environment:<this>). Empty: <github_environment>-infra."
  type        = string
  default     = ""

  validation {
    condition     = var.github_infra_environment == "" || can(regex("^[A-Za-z0-9_.-]+$", var.github_infra_environment))
    error_message = "github_infra_environment must be a GitHub environment name without wildcards."
  }
}

variable "github_oidc_provider_arn" {
  description = "ARN of the account's token.actions.githubusercontent.com OIDC provider. Empty: looked up by its URL (or created, with create_github_oidc_provider)."
  type        = string
  default     = ""
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC provider in this environment. IAM allows one per account: set true in one environment only (or create it by hand); the others look it up."
  type        = bool
  default     = false

  validation {
    condition     = !(var.create_github_oidc_provider && var.github_oidc_provider_arn != "")
    error_message = "create_github_oidc_provider and github_oidc_provider_arn exclude each other: name the provider or create it."
  }
}

variable "terraform_state_bucket" {
  description = "Bucket of the Terraform state, so the infra role can plan and apply. Empty: no state permissions."
  type        = string
  default     = ""
}

variable "terraform_state_key" {
  description = "Key of this environment's state object in terraform_state_bucket."
  type        = string
  default     = ""

  validation {
    condition     = (var.terraform_state_bucket == "") == (var.terraform_state_key == "")
    error_message = "Set terraform_state_bucket and terraform_state_key together."
  }
}

variable "deploy_role_extra_policy_arns" {
  description = "Managed policies added to the deploy role (what a release needs beyond the blueprint's, e.g. ECR in another account). Never the rights to change infrastructure: that is the infra role."
  type        = list(string)
  default     = []
}

variable "infra_role_extra_policy_arns" {
  description = "Managed policies added to the infra role, for resources you add to the blueprint. Attached by the admin apply: the infra role cannot change its own policies."
  type        = list(string)
  default     = []
}
