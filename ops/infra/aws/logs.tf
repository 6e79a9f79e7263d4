# CloudWatch log groups of the containers, and the bucket receiving ALB and S3 access logs.

resource "aws_cloudwatch_log_group" "service" {
  for_each = local.services

  name              = "/ecs/${local.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

# Access logs: ALB log delivery supports SSE-S3 only, hence no KMS key on this bucket.
resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_145:ALB access log delivery only supports SSE-S3 (AES256), not KMS.
  #checkov:skip=CKV_AWS_18:This is the access-log bucket; logging it into itself would loop.
  bucket = local.logs_bucket_name
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

# ALB access-log delivery (AWS "Enable access logs for your Application Load Balancer", step 2,
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html):
# Regions available before August 2022 deliver from a regional ELB account (listed there),
# later ones only as the service principal logdelivery.elasticloadbalancing.amazonaws.com.
# The data source aws_elb_service_account knows only the old list and fails the plan elsewhere
# ("unsupported AWS Region"), so the list is kept here and the principal is granted everywhere.
locals {
  elb_legacy_region_accounts = {
    "af-south-1"     = "098369216593"
    "ap-east-1"      = "754344448648"
    "ap-northeast-1" = "582318560864"
    "ap-northeast-2" = "600734575887"
    "ap-northeast-3" = "383597477331"
    "ap-south-1"     = "718504428378"
    "ap-southeast-1" = "114774131450"
    "ap-southeast-2" = "783225319266"
    "ap-southeast-3" = "589379963580"
    "ca-central-1"   = "985666609251"
    "cn-north-1"     = "638102146993"
    "cn-northwest-1" = "037604701340"
    "eu-central-1"   = "054676820928"
    "eu-north-1"     = "897822967062"
    "eu-south-1"     = "635631232127"
    "eu-west-1"      = "156460612806"
    "eu-west-2"      = "652711504416"
    "eu-west-3"      = "009996457667"
    "me-south-1"     = "076674570225"
    "sa-east-1"      = "507241528517"
    "us-east-1"      = "127311923021"
    "us-east-2"      = "033677994240"
    "us-gov-east-1"  = "190560391635"
    "us-gov-west-1"  = "048591011584"
    "us-west-1"      = "027434742980"
    "us-west-2"      = "797873946194"
  }
  elb_log_delivery_accounts = [for region, account in local.elb_legacy_region_accounts : account if region == var.region]
  alb_log_delivery_statements = [
    for account in local.elb_log_delivery_accounts : {
      sid        = "LoadBalancerLogDeliveryAccount"
      actions    = ["s3:PutObject"]
      resources  = ["${aws_s3_bucket.logs.arn}/alb/*"]
      principals = [{ type = "AWS", identifiers = ["arn:${local.partition}:iam::${account}:root"] }]
    }
  ]
}

data "aws_iam_policy_document" "logs_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  # Regions before August 2022: their regional ELB account (locals above).
  dynamic "statement" {
    for_each = local.alb_log_delivery_statements

    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "principals" {
        for_each = statement.value.principals

        content {
          type        = principals.value.type
          identifiers = principals.value.identifiers
        }
      }
    }
  }

  statement {
    sid       = "LoadBalancerLogDeliveryService"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/alb/*"]

    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }

  statement {
    sid       = "ServerAccessLogDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/s3/*"]

    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id
  policy = data.aws_iam_policy_document.logs_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.logs]
}
