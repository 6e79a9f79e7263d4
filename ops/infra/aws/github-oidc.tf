# The roles GitHub Actions assumes for this environment (OIDC, no stored AWS keys), one per job:
# - deploy: what a release needs (ECS on this cluster, the two task roles, ECR and log reads,
#   the release history, secret metadata), assumed by the deploy and rollback jobs in the
#   GitHub environment <github_environment>;
# - infra: plan and apply of this blueprint and its state, assumed only by the Terraform job
#   in the GitHub environment <github_environment>-infra (its own reviewers). It cannot change
#   its own role or policies, the deploy role's trust, or the account's OIDC provider: changes
#   to those are applied by a person with admin credentials (README.md, "First apply").
# Each trust pins the audience and a subject naming ONE repository and ONE GitHub environment:
# no other repository, branch, pull request or environment can assume it.
# Created only when var.github_repository is set.

# IAM allows one OIDC provider per URL per account, shared by every environment and project in
# it: by default the blueprint looks the provider up (create it once, e.g. with the first
# environment's create_github_oidc_provider = true, or by hand), so a second environment does not
# fail with EntityAlreadyExists and destroying one environment does not cut the others' trust.
locals {
  github_oidc_url      = "https://token.actions.githubusercontent.com"
  create_oidc_provider = local.create_deploy_role && var.github_oidc_provider_arn == "" && var.create_github_oidc_provider
  lookup_oidc_provider = local.create_deploy_role && var.github_oidc_provider_arn == "" && !var.create_github_oidc_provider
  oidc_provider_arn = (
    var.github_oidc_provider_arn != "" ? var.github_oidc_provider_arn :
    local.create_oidc_provider ? one(aws_iam_openid_connect_provider.github[*].arn) :
    one(data.aws_iam_openid_connect_provider.github[*].arn)
  )
  github_subject       = "repo:${var.github_repository}:environment:${local.github_environment}"
  github_infra_subject = "repo:${var.github_repository}:environment:${local.github_infra_environment}"

  # Built from names, not from the resources, so the infra role's own policy can name them.
  deploy_role_name = "${local.name}-github-deploy"
  infra_role_name  = "${local.name}-github-infra"
  deploy_role_arn  = "arn:${local.partition}:iam::${local.account_id}:role/${local.deploy_role_name}"
  infra_role_arn   = "arn:${local.partition}:iam::${local.account_id}:role/${local.infra_role_name}"
  # Sessions outlast the jobs' timeouts (deploy 60, rollback 100, terraform 60 minutes) plus
  # the clean-up after a cancel; the workflows ask for 2 hours (role-duration-seconds).
  github_role_max_session_seconds = 7200
  cluster_arn                     = "arn:${local.partition}:ecs:${var.region}:${local.account_id}:cluster/${local.name}"
}

data "aws_iam_openid_connect_provider" "github" {
  count = local.lookup_oidc_provider ? 1 : 0

  url = local.github_oidc_url
}

resource "aws_iam_openid_connect_provider" "github" {
  count = local.create_oidc_provider ? 1 : 0

  url            = local.github_oidc_url
  client_id_list = ["sts.amazonaws.com"]
  # GitHub's published certificate thumbprints (IAM verifies GitHub's tokens by its own CA
  # trust as well; the list is required by older provider versions).
  thumbprint_list = [
    "6938fd4d98bab03faadb97b34396831e3780aea1",
    "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
  ]
}

# Deploy and rollback jobs: the GitHub environment named like the target.
data "aws_iam_policy_document" "github_deploy_trust" {
  count = local.create_deploy_role ? 1 : 0

  statement {
    sid     = "GitHubActionsEnvironment"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = [local.github_subject]
    }
  }
}

# The Terraform job: its own GitHub environment, <github_environment>-infra by default.
data "aws_iam_policy_document" "github_infra_trust" {
  count = local.create_deploy_role ? 1 : 0

  statement {
    sid     = "GitHubActionsInfraEnvironment"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = [local.github_infra_subject]
    }
  }
}

# ---------------------------------------------------------------------------------------------
# Deploy role: a release (shipline deploy, rollback, lock release) and nothing more
# ---------------------------------------------------------------------------------------------

resource "aws_iam_role" "github_deploy" {
  count = local.create_deploy_role ? 1 : 0

  name                 = local.deploy_role_name
  description          = "Releases ${local.name} from ${var.github_repository} (environment ${local.github_environment})"
  assume_role_policy   = data.aws_iam_policy_document.github_deploy_trust[0].json
  max_session_duration = local.github_role_max_session_seconds
}

# The AWS calls of shipline's deploy and rollback (src/shipline/release); a test runs both
# in the sandbox and checks every call against these actions.
data "aws_iam_policy_document" "github_deploy" {
  #checkov:skip=CKV_AWS_356:The "*" statement holds only ecs:RegisterTaskDefinition and ecs:DescribeTaskDefinition, which have no resource-level permissions, and ssm:DescribeParameters, which has none either.
  count = local.create_deploy_role ? 1 : 0

  # No resource-level permissions exist for these (Service Authorization Reference).
  statement {
    sid       = "EcsTaskDefinitions"
    actions   = ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"]
    resources = ["*"]
  }

  # A registered revision keeps the tags of the one it copies: tagging on create only.
  statement {
    sid       = "EcsTagNewTaskDefinitions"
    actions   = ["ecs:TagResource"]
    resources = ["arn:${local.partition}:ecs:${var.region}:${local.account_id}:task-definition/${local.name}-*:*"]

    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RegisterTaskDefinition"]
    }
  }

  # This environment's services: watch them, move them, scale them (rollback --scale-to-zero).
  statement {
    sid       = "EcsServices"
    actions   = ["ecs:DescribeServices", "ecs:UpdateService"]
    resources = ["arn:${local.partition}:ecs:${var.region}:${local.account_id}:service/${local.name}/*"]
  }

  # The migration: a one-off task of this environment's families, on this cluster only.
  statement {
    sid       = "EcsMigrationTask"
    actions   = ["ecs:RunTask"]
    resources = ["arn:${local.partition}:ecs:${var.region}:${local.account_id}:task-definition/${local.name}-*:*"]

    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [local.cluster_arn]
    }
  }

  statement {
    sid       = "EcsMigrationTaskWatch"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = ["arn:${local.partition}:ecs:${var.region}:${local.account_id}:task/${local.name}/*"]
  }

  statement {
    sid       = "PassTaskRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.execution.arn, aws_iam_role.task.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  # ECR: a tag given to deploy is pinned to its digest (DescribeImages); pushing is the build's.
  statement {
    sid       = "EcrPinDigests"
    actions   = ["ecr:DescribeImages"]
    resources = ["arn:${local.partition}:ecr:${var.region}:${local.account_id}:repository/${var.project_name}*"]
  }

  # Logs: the migration task's output.
  statement {
    sid       = "ReadServiceLogs"
    actions   = ["logs:GetLogEvents"]
    resources = flatten([for group in aws_cloudwatch_log_group.service : [group.arn, "${group.arn}:*"]])
  }

  # Deploy preflight: that every secret a task definition references exists (metadata only:
  # shipline never reads a secret's value).
  dynamic "statement" {
    for_each = length(local.preflight_secret_arns) > 0 ? [1] : []

    content {
      sid       = "PreflightSecretMetadata"
      actions   = ["secretsmanager:DescribeSecret"]
      resources = local.preflight_secret_arns
    }
  }

  # DescribeParameters cannot be scoped to a resource in IAM.
  statement {
    sid       = "PreflightParameterMetadata"
    actions   = ["ssm:DescribeParameters"]
    resources = ["*"]
  }

  # Release history: records and the lock.
  statement {
    sid       = "ReleaseHistoryBucket"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this["history"].arn]
  }

  statement {
    sid       = "ReleaseHistoryObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.this["history"].arn}/*"]
  }

  statement {
    sid       = "ReleaseHistoryEncryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "github_deploy" {
  count = local.create_deploy_role ? 1 : 0

  name   = "deploy"
  role   = aws_iam_role.github_deploy[0].id
  policy = data.aws_iam_policy_document.github_deploy[0].json
}

resource "aws_iam_role_policy_attachment" "github_deploy_extra" {
  for_each = local.create_deploy_role ? toset(var.deploy_role_extra_policy_arns) : toset([])

  role       = aws_iam_role.github_deploy[0].name
  policy_arn = each.value
}

# ---------------------------------------------------------------------------------------------
# Infra role: terraform plan and apply of this blueprint, and the release session around it
# ---------------------------------------------------------------------------------------------

locals {
  preflight_secret_arns = distinct(concat(local.execution_secret_arns, local.app_secret_arns))

  # The managed policies the blueprint attaches: the only ones the infra role may attach.
  blueprint_managed_policy_arns = concat(
    [
      "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
      "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
    ],
    var.deploy_role_extra_policy_arns,
  )
  # The roles the blueprint hands to AWS services (ECS tasks, flow logs, RDS monitoring).
  service_role_arns = [
    for role in ["execution", "task", "flow-logs", "rds-monitoring"] :
    "arn:${local.partition}:iam::${local.account_id}:role/${local.name}-${role}"
  ]
  blueprint_bucket_names = [local.storage_bucket_name, local.history_bucket_name, local.logs_bucket_name]
  # IAM writes that could widen who is trusted or what the infra role itself may do.
  iam_trust_changes = [
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:PassRole",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
  ]
  oidc_provider_changes = [
    "iam:CreateOpenIDConnectProvider",
    "iam:DeleteOpenIDConnectProvider",
    "iam:UpdateOpenIDConnectProviderThumbprint",
    "iam:AddClientIDToOpenIDConnectProvider",
    "iam:RemoveClientIDFromOpenIDConnectProvider",
    "iam:TagOpenIDConnectProvider",
    "iam:UntagOpenIDConnectProvider",
  ]
}

resource "aws_iam_role" "github_infra" {
  count = local.create_deploy_role ? 1 : 0

  name                 = local.infra_role_name
  description          = "Plans and applies ${local.name}'s Terraform from ${var.github_repository} (environment ${local.github_infra_environment})"
  assume_role_policy   = data.aws_iam_policy_document.github_infra_trust[0].json
  max_session_duration = local.github_role_max_session_seconds
}

# Its statements depend on names and IAM inputs only, not on the app's secrets or services: a
# change there is applied by the infra role itself, a change here needs the admin apply.
data "aws_iam_policy_document" "github_infra" {
  #checkov:skip=CKV_AWS_356:Creating VPCs, load balancers, databases, caches, clusters, keys and log groups cannot be scoped to ARNs that do not exist yet; IAM, S3 and Secrets Manager are scoped to this environment's names.
  #checkov:skip=CKV_AWS_111:Same: Terraform writes the blueprint's EC2, ELB, RDS, ElastiCache, ECS, KMS, ACM, Route53 and Logs resources, which cannot be constrained before they exist.
  #checkov:skip=CKV_AWS_109:IAM writes are limited to this environment's roles and the blueprint's managed policies; the role itself, the deploy role's trust and the OIDC provider are denied explicitly.
  #checkov:skip=CKV_AWS_108:Terraform reads back the secrets it creates (registry credentials, Redis AUTH token): limited to this environment's secret names.
  #checkov:skip=CKV_AWS_107:Same: the secrets Terraform owns, by this environment's names.
  #checkov:skip=CKV_AWS_110:iam:PassRole is limited to the four service roles of this environment and denied on both GitHub roles.
  #checkov:skip=CKV2_AWS_40:No full IAM privileges: iam:* is allowed on this environment's roles only, and the deny statements cut out trust and self changes.
  count = local.create_deploy_role ? 1 : 0

  # The blueprint's services. Creation cannot be scoped to ARNs that do not exist yet.
  statement {
    sid = "ManageBlueprintServices"
    actions = [
      "acm:*",
      "ec2:*",
      "ecs:*",
      "elasticache:*",
      "elasticloadbalancing:*",
      "kms:*",
      "logs:*",
      "rds:*",
      "route53:*",
      "sts:GetCallerIdentity",
      "ssm:DescribeParameters",
    ]
    resources = ["*"]
  }

  # RDS keeps the master password in a secret it creates (manage_master_user_password) and
  # ElastiCache and ECS create their service-linked roles on first use.
  statement {
    sid     = "ServiceLinkedRoles"
    actions = ["iam:CreateServiceLinkedRole"]
    resources = [
      "arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/*",
    ]
  }

  statement {
    sid = "BlueprintSecrets"
    actions = [
      "secretsmanager:CreateSecret",
      "secretsmanager:DeleteSecret",
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetResourcePolicy",
      "secretsmanager:GetSecretValue",
      "secretsmanager:PutSecretValue",
      "secretsmanager:TagResource",
      "secretsmanager:UntagResource",
      "secretsmanager:UpdateSecret",
    ]
    resources = [
      "arn:${local.partition}:secretsmanager:${var.region}:${local.account_id}:secret:${local.name}-*",
      "arn:${local.partition}:secretsmanager:${var.region}:${local.account_id}:secret:rds!db-*",
    ]
  }

  # The storage, release-history and access-log buckets, and their objects (the history's
  # records and lock, for the release session around the apply).
  statement {
    sid       = "BlueprintBuckets"
    actions   = ["s3:*"]
    resources = flatten([for bucket in local.blueprint_bucket_names : ["arn:${local.partition}:s3:::${bucket}", "arn:${local.partition}:s3:::${bucket}/*"]])
  }

  # This environment's roles (execution, task, flow logs, RDS monitoring, the deploy role's
  # policy); the deny statements below take out trust changes and the infra role itself.
  statement {
    sid = "BlueprintRoles"
    actions = [
      "iam:CreateRole",
      "iam:DeleteRole",
      "iam:DeleteRolePolicy",
      "iam:GetRole",
      "iam:GetRolePolicy",
      "iam:ListAttachedRolePolicies",
      "iam:ListInstanceProfilesForRole",
      "iam:ListRolePolicies",
      "iam:ListRoleTags",
      "iam:PutRolePolicy",
      "iam:TagRole",
      "iam:UntagRole",
      "iam:UpdateAssumeRolePolicy",
      "iam:UpdateRole",
      "iam:UpdateRoleDescription",
    ]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/${local.name}-*"]
  }

  # Only the managed policies the blueprint attaches (never AdministratorAccess).
  statement {
    sid       = "BlueprintManagedPolicies"
    actions   = ["iam:AttachRolePolicy", "iam:DetachRolePolicy"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/${local.name}-*"]

    condition {
      test     = "ArnEquals"
      variable = "iam:PolicyARN"
      values   = local.blueprint_managed_policy_arns
    }
  }

  # RDS is given its monitoring role by the RDS API (rds.amazonaws.com), which hands it on to
  # the monitoring service that assumes it.
  statement {
    sid       = "PassServiceRoles"
    actions   = ["iam:PassRole"]
    resources = local.service_role_arns

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com", "vpc-flow-logs.amazonaws.com", "monitoring.rds.amazonaws.com", "rds.amazonaws.com"]
    }
  }

  # The OIDC provider: looked up (or refreshed), never changed from CI.
  statement {
    sid       = "ReadOidcProvider"
    actions   = ["iam:GetOpenIDConnectProvider", "iam:ListOpenIDConnectProviders"]
    resources = ["*"]
  }

  # Terraform state and its lock file (S3 native locking).
  dynamic "statement" {
    for_each = var.terraform_state_bucket != "" ? [1] : []

    content {
      sid       = "TerraformStateBucket"
      actions   = ["s3:ListBucket"]
      resources = ["arn:${local.partition}:s3:::${var.terraform_state_bucket}"]
    }
  }

  dynamic "statement" {
    for_each = var.terraform_state_bucket != "" ? [1] : []

    content {
      sid     = "TerraformStateObjects"
      actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
      resources = [
        "arn:${local.partition}:s3:::${var.terraform_state_bucket}/${var.terraform_state_key}",
        "arn:${local.partition}:s3:::${var.terraform_state_bucket}/${var.terraform_state_key}.tflock",
      ]
    }
  }

  # Explicit denies win over any allow, also over policies attached later.
  # The infra role itself: it may read its role and policies (Terraform refreshes them), and
  # nothing else: no policy change, no trust change, no PassRole, no AssumeRole.
  statement {
    sid         = "DenyChangingItself"
    effect      = "Deny"
    not_actions = ["iam:GetRole", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:ListRoleTags", "iam:ListInstanceProfilesForRole"]
    resources   = [local.infra_role_arn]
  }

  # The deploy role: its permissions follow the blueprint, its trust does not change from CI.
  statement {
    sid       = "DenyDeployRoleTrustChanges"
    effect    = "Deny"
    actions   = local.iam_trust_changes
    resources = [local.deploy_role_arn]
  }

  statement {
    sid       = "DenyOidcProviderChanges"
    effect    = "Deny"
    actions   = local.oidc_provider_changes
    resources = ["*"]
  }

  # No hop into another role (a role whose trust names this one).
  statement {
    sid       = "DenyAssumingRoles"
    effect    = "Deny"
    actions   = ["sts:AssumeRole"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "github_infra" {
  count = local.create_deploy_role ? 1 : 0

  name   = "infra"
  role   = aws_iam_role.github_infra[0].id
  policy = data.aws_iam_policy_document.github_infra[0].json
}

resource "aws_iam_role_policy_attachment" "github_infra_extra" {
  for_each = local.create_deploy_role ? toset(var.infra_role_extra_policy_arns) : toset([])

  role       = aws_iam_role.github_infra[0].name
  policy_arn = each.value
}
