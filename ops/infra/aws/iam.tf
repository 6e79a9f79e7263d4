# Task roles. The execution role (ECS agent: pull images, write logs, inject secrets) reads
# exactly the secrets the task definitions reference. The task role (the app) gets the
# signing and keyset secrets and the storage bucket.

locals {
  # Secrets Manager ARNs may carry a JSON key suffix (arn:...:secret:name-AbCdEf:key::); IAM
  # wants the secret's own ARN, the first seven fields.
  referenced_secret_arns = distinct([
    for arn in concat(values(var.api_secrets), values(var.web_secrets)) :
    join(":", slice(split(":", arn), 0, 7)) if split(":", arn)[2] == "secretsmanager"
  ])
  referenced_parameter_arns = distinct([
    for arn in concat(values(var.api_secrets), values(var.web_secrets)) : arn if split(":", arn)[2] == "ssm"
  ])
  execution_secret_arns = concat(local.referenced_secret_arns, aws_secretsmanager_secret.registry[*].arn)

  app_secret_arns = compact([
    var.secrets_provider == "aws_sm" ? var.aws_sm_signing_secret_arn : "",
    local.auth_key_storage_provider == "aws_sm" ? var.auth_key_secret_arn : "",
  ])

  # The statements that depend on which kinds of secret are in use, rendered by the dynamic
  # blocks below: a statement without resources is invalid IAM, so each appears only with them.
  execution_secret_statements = concat(
    [
      for arns in [local.execution_secret_arns] : {
        sid        = "ReadReferencedSecrets"
        actions    = ["secretsmanager:GetSecretValue"]
        resources  = arns
        conditions = []
      } if length(local.referenced_secret_arns) > 0 || local.use_registry_credentials
    ],
    [
      for arns in [local.referenced_parameter_arns] : {
        sid        = "ReadReferencedParameters"
        actions    = ["ssm:GetParameters"]
        resources  = arns
        conditions = []
      } if length(arns) > 0
    ],
  )

  # The app reads and writes the signing and keyset secrets. Under a customer managed key,
  # GetSecretValue needs kms:Decrypt and PutSecretValue kms:GenerateDataKey on that key
  # (Secrets Manager, "Secret encryption and decryption"); only through Secrets Manager.
  task_secret_statements = concat(
    [
      for arns in [local.app_secret_arns] : {
        sid        = "SigningAndKeysetSecrets"
        actions    = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:DescribeSecret"]
        resources  = arns
        conditions = []
      } if length(arns) > 0
    ],
    [
      for keys in [var.secrets_kms_key_arns] : {
        sid       = "SigningAndKeysetSecretsKeys"
        actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
        resources = keys
        conditions = [{
          test     = "StringEquals"
          variable = "kms:ViaService"
          values   = ["secretsmanager.${var.region}.amazonaws.com"]
        }]
      } if length(keys) > 0 && length(local.app_secret_arns) > 0
    ],
  )
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# ---------------------------------------------------------------------------------------------
# Execution role
# ---------------------------------------------------------------------------------------------

resource "aws_iam_role" "execution" {
  name               = "${local.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "execution_managed" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "execution_secrets" {
  dynamic "statement" {
    for_each = local.execution_secret_statements

    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = statement.value.conditions

        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }

  statement {
    sid       = "DecryptSecrets"
    actions   = ["kms:Decrypt"]
    resources = concat([aws_kms_key.main.arn], var.secrets_kms_key_arns)
  }
}

resource "aws_iam_role_policy" "execution_secrets" {
  name   = "read-referenced-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution_secrets.json
}

# ---------------------------------------------------------------------------------------------
# Task role (the app)
# ---------------------------------------------------------------------------------------------

resource "aws_iam_role" "task" {
  name               = "${local.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "task" {
  dynamic "statement" {
    for_each = local.task_secret_statements

    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = statement.value.conditions

        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }

  # Bucket-level: listing and the storage health check (HeadBucket is authorized by ListBucket).
  statement {
    sid = "StorageBucket"
    actions = [
      "s3:ListBucket",
      "s3:ListBucketMultipartUploads",
      "s3:GetBucketLocation",
    ]
    resources = [aws_s3_bucket.this["storage"].arn]
  }

  statement {
    sid = "StorageObjects"
    actions = [
      "s3:GetObject",
      "s3:GetObjectVersion",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:GetObjectTagging",
      "s3:PutObjectTagging",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${aws_s3_bucket.this["storage"].arn}/*"]
  }

  statement {
    sid       = "StorageEncryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "app"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}
