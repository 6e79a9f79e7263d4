# The role GitHub Actions assumes to deploy this environment (OIDC, no stored AWS keys).
# Its trust pins the audience and a subject naming ONE repository and ONE GitHub environment:
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
  github_subject = "repo:${var.github_repository}:environment:${local.github_environment}"
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

resource "aws_iam_role" "github_deploy" {
  count = local.create_deploy_role ? 1 : 0

  name                 = "${local.name}-github-deploy"
  description          = "Deploys ${local.name} from ${var.github_repository} (environment ${local.github_environment})"
  assume_role_policy   = data.aws_iam_policy_document.github_deploy_trust[0].json
  max_session_duration = 7200 # the workflows ask for 2-hour sessions (role-duration-seconds)
}

data "aws_iam_policy_document" "github_deploy" {
  #checkov:skip=CKV_AWS_356:The "*" statements hold only actions without resource-level permissions (ecs:Describe*/List*, RegisterTaskDefinition, elasticloadbalancing:Describe*, ecr:GetAuthorizationToken).
  count = local.create_deploy_role ? 1 : 0

  # ECS: register task definitions, move services, run the migration task, watch them.
  statement {
    sid = "EcsRead"
    actions = [
      "ecs:DescribeClusters",
      "ecs:DescribeServices",
      "ecs:DescribeTaskDefinition",
      "ecs:ListTasks",
      "ecs:ListTaskDefinitions",
      "ecs:ListServices",
      "elasticloadbalancing:DescribeTargetHealth",
      "elasticloadbalancing:DescribeTargetGroups",
      "elasticloadbalancing:DescribeLoadBalancers",
    ]
    resources = ["*"]
  }

  # RegisterTaskDefinition does not support resource-level permissions.
  statement {
    sid       = "EcsRegister"
    actions   = ["ecs:RegisterTaskDefinition", "ecs:TagResource"]
    resources = ["*"]
  }

  statement {
    sid       = "EcsServices"
    actions   = ["ecs:UpdateService"]
    resources = [for service in aws_ecs_service.this : service.id]
  }

  statement {
    sid       = "EcsMigrationTask"
    actions   = ["ecs:RunTask"]
    resources = ["arn:${local.partition}:ecs:${var.region}:${local.account_id}:task-definition/${local.name}-*:*"]

    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.main.arn]
    }
  }

  statement {
    sid       = "EcsStopMigrationTask"
    actions   = ["ecs:StopTask", "ecs:DescribeTasks"]
    resources = ["arn:${local.partition}:ecs:${var.region}:${local.account_id}:task/${aws_ecs_cluster.main.name}/*"]
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

  # ECR: push the release images to this project's repositories.
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "EcrPush"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImages",
      "ecr:DescribeRepositories",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = ["arn:${local.partition}:ecr:${var.region}:${local.account_id}:repository/${var.project_name}*"]
  }

  # Logs: the migration task's output.
  statement {
    sid       = "ReadServiceLogs"
    actions   = ["logs:GetLogEvents", "logs:FilterLogEvents", "logs:DescribeLogStreams"]
    resources = flatten([for group in aws_cloudwatch_log_group.service : [group.arn, "${group.arn}:*"]])
  }

  # Deploy preflight: that every secret a task definition references exists (metadata only:
  # shipline never reads a secret's value).
  dynamic "statement" {
    for_each = length(local.execution_secret_arns) > 0 ? [1] : []

    content {
      sid       = "PreflightSecretMetadata"
      actions   = ["secretsmanager:DescribeSecret"]
      resources = local.execution_secret_arns
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
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
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
