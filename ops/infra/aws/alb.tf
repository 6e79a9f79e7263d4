# One load balancer per public service (API and web). HTTPS with the ACM certificate when
# enable_https, HTTP redirected to it; target groups check the readiness endpoints with
# intervals short enough for a rolling deploy to finish in minutes.

locals {
  load_balanced = {
    api = {
      port        = var.api_container_port
      health_path = "/health/ready"
    }
    web = {
      port        = var.web_container_port
      health_path = "/api/health/ready"
    }
  }
}

resource "aws_lb" "this" {
  for_each = local.load_balanced

  name                       = "${local.name}-${each.key}"
  load_balancer_type         = "application"
  internal                   = var.alb_internal
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.alb_internal ? aws_subnet.private[*].id : aws_subnet.public[*].id
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
  idle_timeout               = 60

  access_logs {
    bucket  = aws_s3_bucket.logs.id
    prefix  = "alb/${each.key}"
    enabled = true
  }

  depends_on = [aws_s3_bucket_policy.logs]
}

resource "aws_lb_target_group" "this" {
  for_each = local.load_balanced

  # A generated name (the provider allows a prefix of 6 characters): a change that replaces the
  # group (port, protocol, VPC) creates the new one before the old one is gone.
  name_prefix          = "${each.key}-"
  port                 = each.value.port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = aws_vpc.main.id
  deregistration_delay = 30

  health_check {
    path                = each.value.health_path
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = { Name = "${local.name}-${each.key}" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "http" {
  for_each = local.load_balanced

  load_balancer_arn = aws_lb.this[each.key].arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = var.enable_https ? "redirect" : "forward"
    target_group_arn = var.enable_https ? null : aws_lb_target_group.this[each.key].arn

    dynamic "redirect" {
      for_each = var.enable_https ? [1] : []

      content {
        port        = "443"
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }
  }
}

resource "aws_lb_listener" "https" {
  for_each = { for key, balancer in local.load_balanced : key => balancer if var.enable_https }

  load_balancer_arn = aws_lb.this[each.key].arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = local.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this[each.key].arn
  }
}
