# Optional DNS: given a Route53 hosted zone, request the ACM certificate for both domains in the
# load balancers' region, validate it through DNS, and point the domains at the load balancers.
# Without a zone, var.acm_certificate_arn is used and the records are made by hand.

locals {
  dns_names = { for key, name in { api = var.api_domain_name, web = var.app_domain_name } : key => name if local.manage_dns }
}

resource "aws_acm_certificate" "this" {
  count = local.manage_dns && var.enable_https ? 1 : 0

  domain_name               = var.app_domain_name
  subject_alternative_names = [var.api_domain_name]
  validation_method         = "DNS"

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "certificate_validation" {
  for_each = {
    for option in try(aws_acm_certificate.this[0].domain_validation_options, []) : option.domain_name => {
      name  = option.resource_record_name
      type  = option.resource_record_type
      value = option.resource_record_value
    }
  }

  zone_id         = var.route53_zone_id
  name            = each.value.name
  type            = each.value.type
  records         = [each.value.value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "this" {
  count = local.manage_dns && var.enable_https ? 1 : 0

  certificate_arn         = aws_acm_certificate.this[0].arn
  validation_record_fqdns = [for record in aws_route53_record.certificate_validation : record.fqdn]
}

resource "aws_route53_record" "alias" {
  for_each = local.dns_names

  zone_id = var.route53_zone_id
  name    = each.value
  type    = "A"

  alias {
    name                   = aws_lb.this[each.key].dns_name
    zone_id                = aws_lb.this[each.key].zone_id
    evaluate_target_health = true
  }
}
