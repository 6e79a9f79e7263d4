# VPC over var.az_count zones: public subnets hold the load balancers and NAT gateways,
# private subnets hold the tasks, the database and the cache. Flow logs go to CloudWatch.

resource "aws_vpc" "main" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = { Name = local.name }
}

# The default security group allows nothing; every resource gets its own group.
resource "aws_default_security_group" "main" {
  vpc_id = aws_vpc.main.id
}

resource "aws_internet_gateway" "main" {
  vpc_id = aws_vpc.main.id

  tags = { Name = local.name }
}

resource "aws_subnet" "public" {
  count = var.az_count

  vpc_id                  = aws_vpc.main.id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(var.vpc_cidr, 4, count.index)
  map_public_ip_on_launch = false

  tags = { Name = "${local.name}-public-${local.azs[count.index]}", Tier = "public" }
}

resource "aws_subnet" "private" {
  count = var.az_count

  vpc_id            = aws_vpc.main.id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, count.index + 8)

  tags = { Name = "${local.name}-private-${local.azs[count.index]}", Tier = "private" }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.main.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.main.id
  }

  tags = { Name = "${local.name}-public" }
}

resource "aws_route_table_association" "public" {
  count = var.az_count

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

locals {
  nat_gateway_count = var.nat_gateway_mode == "per_az" ? var.az_count : 1
}

resource "aws_eip" "nat" {
  count = local.nat_gateway_count

  domain = "vpc"

  tags = { Name = "${local.name}-nat-${count.index}" }
}

resource "aws_nat_gateway" "main" {
  count = local.nat_gateway_count

  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id

  tags = { Name = "${local.name}-nat-${count.index}" }

  depends_on = [aws_internet_gateway.main]
}

# One route table per private subnet, each to its zone's NAT gateway (or the single one).
resource "aws_route_table" "private" {
  count = var.az_count

  vpc_id = aws_vpc.main.id

  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.main[min(count.index, local.nat_gateway_count - 1)].id
  }

  tags = { Name = "${local.name}-private-${local.azs[count.index]}" }
}

resource "aws_route_table_association" "private" {
  count = var.az_count

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

# VPC flow logs
resource "aws_cloudwatch_log_group" "flow_logs" {
  name              = "/vpc/${local.name}/flow-logs"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "flow_logs" {
  name               = "${local.name}-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogGroups",
      "logs:DescribeLogStreams",
    ]
    resources = [aws_cloudwatch_log_group.flow_logs.arn, "${aws_cloudwatch_log_group.flow_logs.arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs.json
}

resource "aws_flow_log" "main" {
  vpc_id          = aws_vpc.main.id
  traffic_type    = "ALL"
  log_destination = aws_cloudwatch_log_group.flow_logs.arn
  iam_role_arn    = aws_iam_role.flow_logs.arn
}

# ---------------------------------------------------------------------------------------------
# Security groups: load balancers -> tasks -> database / cache; tasks reach AWS APIs and
# registries over HTTPS through the NAT gateways.
# ---------------------------------------------------------------------------------------------

resource "aws_security_group" "alb" {
  name        = "${local.name}-alb"
  description = "Load balancers of ${local.name}: HTTP(S) in, container ports out"
  vpc_id      = aws_vpc.main.id
}

resource "aws_security_group" "services" {
  name        = "${local.name}-services"
  description = "ECS tasks of ${local.name}"
  vpc_id      = aws_vpc.main.id
}

resource "aws_security_group" "database" {
  name        = "${local.name}-database"
  description = "PostgreSQL of ${local.name}: reachable from the ECS tasks only"
  vpc_id      = aws_vpc.main.id
}

resource "aws_security_group" "redis" {
  name        = "${local.name}-redis"
  description = "Redis of ${local.name}: reachable from the ECS tasks only"
  vpc_id      = aws_vpc.main.id
}

locals {
  alb_listener_ports = [80, 443]
  alb_ingress        = { for pair in setproduct(var.alb_ingress_cidrs, local.alb_listener_ports) : "${pair[0]}:${pair[1]}" => { cidr = pair[0], port = pair[1] } }
  # The web app calls the API through its public URL: from the tasks, an internet-facing ALB
  # sees the NAT gateways' public IPs, which a restricted alb_ingress_cidrs would refuse.
  alb_admits_nat = !var.alb_internal && !contains(var.alb_ingress_cidrs, "0.0.0.0/0")
  alb_ingress_from_nat = {
    for pair in setproduct(range(local.nat_gateway_count), local.alb_listener_ports) :
    "nat-${pair[0]}:${pair[1]}" => { gateway = pair[0], port = pair[1] } if local.alb_admits_nat
  }
  # With enable_https = false the app URLs are http://: the tasks need port 80 out as well.
  services_web_egress_ports = var.enable_https ? [443] : [80, 443]
  app_ports = {
    api = var.api_container_port
    web = var.web_container_port
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb" {
  for_each = local.alb_ingress

  security_group_id = aws_security_group.alb.id
  description       = "HTTP(S) from ${each.value.cidr}"
  cidr_ipv4         = each.value.cidr
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
}

resource "aws_vpc_security_group_ingress_rule" "alb_from_nat" {
  for_each = local.alb_ingress_from_nat

  security_group_id = aws_security_group.alb.id
  description       = "HTTP(S) from the tasks through NAT gateway ${each.value.gateway}"
  cidr_ipv4         = "${aws_eip.nat[each.value.gateway].public_ip}/32"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
}

# An internal ALB sees the tasks' own addresses.
resource "aws_vpc_security_group_ingress_rule" "alb_from_services" {
  for_each = toset([for port in local.alb_listener_ports : tostring(port) if var.alb_internal])

  security_group_id            = aws_security_group.alb.id
  description                  = "HTTP(S) from the ECS tasks"
  referenced_security_group_id = aws_security_group.services.id
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.value)
  to_port                      = tonumber(each.value)
}

resource "aws_vpc_security_group_egress_rule" "alb_to_services" {
  for_each = local.app_ports

  security_group_id            = aws_security_group.alb.id
  description                  = "To the ${each.key} containers"
  referenced_security_group_id = aws_security_group.services.id
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
}

resource "aws_vpc_security_group_ingress_rule" "services_from_alb" {
  for_each = local.app_ports

  security_group_id            = aws_security_group.services.id
  description                  = "From the load balancers to the ${each.key} containers"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
}

resource "aws_vpc_security_group_egress_rule" "services_web" {
  for_each = toset([for port in local.services_web_egress_ports : tostring(port)])

  security_group_id = aws_security_group.services.id
  description       = "HTTP(S) to AWS APIs, registries, third-party APIs and the app's own load balancers"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.value)
  to_port           = tonumber(each.value)
}

moved {
  from = aws_vpc_security_group_egress_rule.services_https
  to   = aws_vpc_security_group_egress_rule.services_web["443"]
}

resource "aws_vpc_security_group_egress_rule" "services_to_database" {
  security_group_id            = aws_security_group.services.id
  description                  = "To PostgreSQL"
  referenced_security_group_id = aws_security_group.database.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_egress_rule" "services_to_redis" {
  security_group_id            = aws_security_group.services.id
  description                  = "To Redis"
  referenced_security_group_id = aws_security_group.redis.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

resource "aws_vpc_security_group_ingress_rule" "database_from_services" {
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from the ECS tasks"
  referenced_security_group_id = aws_security_group.services.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_services" {
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from the ECS tasks"
  referenced_security_group_id = aws_security_group.services.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}
