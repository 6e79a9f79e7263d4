"""The blueprint's derivations, evaluated for varied inputs (render.py) and asserted on the result.

Each test names the rule it holds; inverting the rule's condition in the .tf files fails it.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from shipline.env.from_terraform import env_from_terraform, parse_terraform_outputs
from shipline.env.rules import check_environment
from support.infra import infra_rules as rules
from support.infra.render import render

GITHUB = "https://token.actions.githubusercontent.com"
ACCOUNT = "111122223333"
SSM_SECRETS = {
    "DATABASE_URL": f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/acme/db",
    "REDIS_URL": f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/acme/redis",
}
CUSTOMER_KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# Regions the region validation accepts that launched after the ELB account list was closed
# (August 2022): ELB delivers their access logs as a service principal only.
NEW_REGIONS = ["ap-south-2", "eu-central-2", "il-central-1", "ca-west-1", "mx-central-1"]
LOG_DELIVERY_SERVICE = "logdelivery.elasticloadbalancing.amazonaws.com"


def _blocks(value: dict | list) -> list[dict]:
    """A block rendered once reads as a dict, several times as a list; without the metadata."""
    items = value if isinstance(value, list) else [value]
    return [{k: v for k, v in item.items() if k not in ("__tfmeta", "id")} for item in items]


def _references(block: dict, label: str, name: str) -> bool:
    return any(
        reference.get("label") == label and reference.get("name") == name
        for reference in block["__tfmeta"].get("references", [])
    )


# ---------------------------------------------------------------------------------------------
# GitHub OIDC provider: one per account, looked up unless creating it is asked for
# ---------------------------------------------------------------------------------------------


def test_oidc_provider_is_looked_up_by_default_not_created():
    rendered = render(github_repository="acme/app")
    assert rendered.instances("aws_iam_openid_connect_provider") == {}
    looked_up = rendered.instances("aws_iam_openid_connect_provider", "data")
    assert [body["url"] for body in looked_up.values()] == [GITHUB]


def test_oidc_provider_is_created_only_when_asked():
    rendered = render(github_repository="acme/app", create_github_oidc_provider=True)
    created = rendered.instances("aws_iam_openid_connect_provider")
    assert [body["url"] for body in created.values()] == [GITHUB]
    assert rendered.instances("aws_iam_openid_connect_provider", "data") == {}


def test_oidc_provider_given_by_arn_is_neither_created_nor_looked_up():
    arn = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    rendered = render(github_repository="acme/app", github_oidc_provider_arn=arn)
    assert rendered.instances("aws_iam_openid_connect_provider") == {}
    assert rendered.instances("aws_iam_openid_connect_provider", "data") == {}
    assert rendered.local("oidc_provider_arn") == arn


def test_no_deploy_role_touches_no_oidc_provider():
    rendered = render(create_github_oidc_provider=True)
    assert rendered.instances("aws_iam_openid_connect_provider") == {}
    assert rendered.instances("aws_iam_openid_connect_provider", "data") == {}


# ---------------------------------------------------------------------------------------------
# ALB access logs: the regional ELB account where AWS has one, the service principal elsewhere
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("region", NEW_REGIONS)
def test_new_regions_read_no_elb_service_account(region):
    rendered = render(region=region)
    # aws_elb_service_account fails the plan ("unsupported AWS Region") in these regions.
    assert rendered.instances("aws_elb_service_account", "data") == {}
    assert rendered.local("elb_log_delivery_accounts") == []
    statements = rendered.statements("logs_bucket")
    assert "LoadBalancerLogDeliveryAccount" not in statements
    delivery = statements["LoadBalancerLogDeliveryService"]
    assert _blocks(delivery["principals"]) == [
        {"type": "Service", "identifiers": [LOG_DELIVERY_SERVICE]}
    ]


@pytest.mark.parametrize(
    ("region", "account"), [("us-east-1", "127311923021"), ("eu-west-1", "156460612806")]
)
def test_legacy_regions_also_allow_their_elb_account(region, account):
    rendered = render(region=region)
    assert rendered.instances("aws_elb_service_account", "data") == {}
    assert rendered.local("elb_log_delivery_accounts") == [account]
    statements = rendered.statements("logs_bucket")
    (principal,) = _blocks(statements["LoadBalancerLogDeliveryAccount"]["principals"])
    assert principal["type"] == "AWS"
    assert len(principal["identifiers"]) == 1  # arn:<partition>:iam::<account>:root
    assert "LoadBalancerLogDeliveryService" in statements


# ---------------------------------------------------------------------------------------------
# Task egress and ALB ingress: what a dev setup and a restricted ALB need
# ---------------------------------------------------------------------------------------------


def _service_egress_ports(rendered) -> set[tuple[int, str]]:
    return {
        (rule["from_port"], rule.get("cidr_ipv4"))
        for rule in rendered.instances("aws_vpc_security_group_egress_rule").values()
        if _references(rule, "aws_security_group", "services")
        and rule.get("cidr_ipv4") == "0.0.0.0/0"
    }


def test_tasks_reach_plain_http_when_https_is_off():
    assert (80, "0.0.0.0/0") in _service_egress_ports(render(enable_https=False))


def test_tasks_get_no_plain_http_egress_when_https_is_on():
    assert _service_egress_ports(render(enable_https=True)) == {(443, "0.0.0.0/0")}


def _alb_ingress(rendered) -> dict[str, dict]:
    """Ingress rules of the ALB security group, by address."""
    return {
        address: rule
        for address, rule in rendered.instances("aws_vpc_security_group_ingress_rule").items()
        if address.startswith("aws_vpc_security_group_ingress_rule.alb")
    }


def _alb_ingress_from_nat(rendered) -> list[dict]:
    return [
        rule
        for rule in _alb_ingress(rendered).values()
        if rule["description"].startswith("HTTP(S) from the tasks through NAT gateway")
    ]


@pytest.mark.parametrize(("mode", "az_count", "gateways"), [("single", 2, 1), ("per_az", 3, 3)])
def test_restricted_alb_accepts_the_tasks_own_calls_through_each_nat(mode, az_count, gateways):
    rendered = render(
        alb_ingress_cidrs=["203.0.113.0/24"], nat_gateway_mode=mode, az_count=az_count
    )
    from_nat = _alb_ingress_from_nat(rendered)
    assert sorted(rule["from_port"] for rule in from_nat) == sorted([80, 443] * gateways)
    assert len({rule["description"] for rule in from_nat}) == gateways
    cidrs = {rule.get("cidr_ipv4") for rule in _alb_ingress(rendered).values()}
    assert "203.0.113.0/24" in cidrs


@pytest.mark.parametrize(
    "overrides",
    [
        {"alb_ingress_cidrs": ["0.0.0.0/0"]},
        {"alb_ingress_cidrs": ["10.1.0.0/16"], "alb_internal": True},
    ],
)
def test_no_nat_rules_where_the_alb_already_admits_the_tasks(overrides):
    assert _alb_ingress_from_nat(render(**overrides)) == []


@pytest.mark.parametrize(("internal", "ports"), [(True, [80, 443]), (False, [])])
def test_an_internal_alb_admits_the_tasks_security_group(internal, ports):
    # An internet-facing ALB sees the tasks through the NAT gateways, never by security group.
    rendered = render(alb_ingress_cidrs=["10.1.0.0/16"], alb_internal=internal)
    from_tasks = [
        rule
        for rule in _alb_ingress(rendered).values()
        if _references(rule, "aws_security_group", "services")
    ]
    assert sorted(rule["from_port"] for rule in from_tasks) == ports


# ---------------------------------------------------------------------------------------------
# IAM statements per secret kind
# ---------------------------------------------------------------------------------------------


def test_execution_policy_has_no_statement_without_resources_when_all_secrets_are_ssm():
    statements = render(api_secrets=SSM_SECRETS).statements("execution_secrets")
    assert all(statement.get("resources") for statement in statements.values()), statements
    assert "ReadReferencedSecrets" not in statements
    assert statements["ReadReferencedParameters"]["resources"] == sorted(SSM_SECRETS.values())


def test_execution_policy_reads_secrets_manager_secrets_by_their_own_arn():
    secrets = {
        "DATABASE_URL": f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:db-AbCdEf:url::",
        "REDIS_URL": SSM_SECRETS["REDIS_URL"],
    }
    statements = render(api_secrets=secrets).statements("execution_secrets")
    assert statements["ReadReferencedSecrets"]["resources"] == [
        f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:db-AbCdEf"
    ]
    assert statements["ReadReferencedParameters"]["resources"] == [SSM_SECRETS["REDIS_URL"]]


def test_task_role_decrypts_its_secrets_with_the_customer_keys():
    statements = render(secrets_kms_key_arns=[CUSTOMER_KEY]).statements("task")
    decrypt = statements["SigningAndKeysetSecretsKeys"]
    # PutSecretValue under a customer managed key needs kms:GenerateDataKey, reads kms:Decrypt.
    assert set(decrypt["actions"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert decrypt["resources"] == [CUSTOMER_KEY]
    assert decrypt["conditions"] == [
        {
            "test": "StringEquals",
            "variable": "kms:ViaService",
            "values": ["secretsmanager.eu-west-1.amazonaws.com"],
        }
    ]


def test_task_role_gets_no_key_statement_without_customer_keys_or_aws_sm_secrets():
    assert "SigningAndKeysetSecretsKeys" not in render().statements("task")
    other_provider = render(
        secrets_kms_key_arns=[CUSTOMER_KEY],
        secrets_provider="vault_hcp",
        auth_key_storage_provider="vault_hcp",
        aws_sm_signing_secret_arn="",
        auth_key_secret_arn="",
        auth_key_secret_name="secret/keys",
    )
    statements = other_provider.statements("task")
    assert "SigningAndKeysetSecrets" not in statements
    assert "SigningAndKeysetSecretsKeys" not in statements


# ---------------------------------------------------------------------------------------------
# URLs and hosts: ALLOWED_HOSTS from the URLs the services get; HTTPS only where a name can match
# ---------------------------------------------------------------------------------------------

CERTIFICATE = f"arn:aws:acm:eu-west-1:{ACCOUNT}:certificate/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"
DOMAINS = {"api_domain_name": "api.example.com", "app_domain_name": "app.example.com"}
HTTPS = {**DOMAINS, "acm_certificate_arn": CERTIFICATE}
URL_CASES = {
    "domains": ({**HTTPS}, {"api.example.com"}),
    "managed zone": ({**DOMAINS, "route53_zone_id": "Z0123456789ABCDEFGHIJ"}, {"api.example.com"}),
    "api_base_url on another host": (
        {**HTTPS, "api_base_url": "https://edge.example.com/v1"},
        {"api.example.com", "edge.example.com"},
    ),
    "api_base_url with a port, upper case": (
        {
            **HTTPS,
            "api_base_url": "https://EDGE.example.com:8443",
            "app_public_url": "https://www.example.com",
        },
        {"api.example.com", "edge.example.com"},
    ),
    "plain HTTP with an address": (
        {**DOMAINS, "enable_https": False, "api_base_url": "http://10.40.3.7:8000"},
        {"api.example.com", "10.40.3.7"},
    ),
}


def _service_env(rendered, key: str) -> dict[str, str]:
    return rendered.local("services")[key]["environment"]


@pytest.mark.parametrize(("overrides", "hosts"), URL_CASES.values(), ids=URL_CASES.keys())
def test_allowed_hosts_are_the_hosts_the_api_is_called_on(overrides, hosts):
    rendered = render(**overrides)
    assert rendered.refusals() == {}  # Terraform accepts these inputs
    api, web = _service_env(rendered, "api"), _service_env(rendered, "web")
    allowed = api["ALLOWED_HOSTS"].split(",")
    assert set(allowed) == hosts and len(allowed) == len(hosts)
    # The web app calls API_BASE_URL; a client of the API's own URL (api_url) uses its host.
    assert urlsplit(web["API_BASE_URL"]).hostname in allowed
    assert urlsplit(rendered.output("api_url")).hostname in allowed
    assert _service_env(rendered, "worker")["ALLOWED_HOSTS"] == api["ALLOWED_HOSTS"]
    assert rendered.output("allowed_hosts") == api["ALLOWED_HOSTS"]


@pytest.mark.parametrize(("overrides", "hosts"), URL_CASES.values(), ids=URL_CASES.keys())
def test_env_from_terraform_maps_the_outputs_to_what_the_tasks_get(overrides, hosts):
    rendered = render(**overrides)
    # What `terraform output -json` prints; values only AWS knows (placeholders here) left null.
    document = {
        name: {"value": None if isinstance(value, dict) and "__attribute__" in value else value}
        for name, value in rendered.outputs().items()
    }
    mapped = env_from_terraform(parse_terraform_outputs(json.dumps(document)))
    env = {item.name: item.value for item in mapped}
    tasks = {**_service_env(rendered, "web"), **_service_env(rendered, "api")}
    compared = [name for name in env if tasks.get(name) is not None]
    assert {"ALLOWED_HOSTS", "API_BASE_URL", "APP_PUBLIC_URL", "AUTH_KEY_STORAGE_BACKEND"} <= set(
        compared
    )
    assert {name: env[name] for name in compared} == {name: tasks[name] for name in compared}
    host_problems = [p for p in check_environment(env, "api") if p.variable == "ALLOWED_HOSTS"]
    assert host_problems == []


@pytest.mark.parametrize(
    ("overrides", "refused"),
    [
        # A certificate but no domains: https://<load balancer DNS name>, which no certificate
        # can match (the name is AWS's, *.elb.amazonaws.com).
        ({"acm_certificate_arn": CERTIFICATE}, {"api_domain_name", "app_domain_name"}),
        (
            {"acm_certificate_arn": CERTIFICATE, "api_domain_name": "api.example.com"},
            {"app_domain_name"},
        ),
        (
            {"acm_certificate_arn": CERTIFICATE, "app_domain_name": "app.example.com"},
            {"api_domain_name"},
        ),
        # Plain-HTTP URLs behind HTTPS are redirected: a POST loses its body, CORS its origin.
        ({**HTTPS, "api_base_url": "http://api.example.com"}, {"api_base_url"}),
        ({**HTTPS, "app_public_url": "http://app.example.com"}, {"app_public_url"}),
        # A URL whose host cannot be taken for ALLOWED_HOSTS.
        ({**HTTPS, "api_base_url": "https://user:pw@api.example.com"}, {"api_base_url"}),
    ],
)
def test_url_combinations_that_cannot_work_are_refused(overrides, refused):
    assert set(render(**overrides).refusals()) == refused


@pytest.mark.parametrize(
    "overrides",
    [
        {**HTTPS},
        {"enable_https": False},  # dev: plain HTTP on the load balancers' names
        {"enable_https": False, "api_base_url": "https://api.example.com"},  # TLS in front (a CDN)
    ],
)
def test_url_combinations_that_work_are_accepted(overrides):
    assert render(**overrides).refusals() == {}


# ---------------------------------------------------------------------------------------------
# Operability
# ---------------------------------------------------------------------------------------------


def test_services_leave_desired_count_to_releases_after_creation():
    # shipline (rollback --scale-to-zero, autoscaling) owns the running count; an apply that
    # reset it would undo an emergency stop.
    for service in rules.load(rules.BLUEPRINT).of_type("aws_ecs_service").values():
        ignored = service["lifecycle"][0]["ignore_changes"]
        assert {"task_definition", "desired_count"} <= set(ignored)


def test_database_major_version_upgrades_are_allowed_when_the_version_changes():
    (database,) = render(db_engine_version="17").instances("aws_db_instance").values()
    assert database["engine_version"] == "17"
    assert database["allow_major_version_upgrade"] is True


@pytest.mark.parametrize("retention", [30, 365])
def test_every_exported_database_log_has_a_log_group_with_retention(retention):
    rendered = render(log_retention_days=retention)
    (database,) = rendered.instances("aws_db_instance").values()
    groups = {
        group["name"]: group for group in rendered.instances("aws_cloudwatch_log_group").values()
    }
    for export in database["enabled_cloudwatch_logs_exports"]:
        name = f"/aws/rds/instance/{database['identifier']}/{export}"
        assert name in groups, f"RDS would create {name} with no retention"
        assert groups[name]["retention_in_days"] == retention


def test_target_groups_can_be_replaced_without_a_name_collision():
    groups = render().instances("aws_lb_target_group")
    assert sorted(groups) == ['aws_lb_target_group.this["api"]', 'aws_lb_target_group.this["web"]']
    for group in groups.values():
        assert "name" not in group or group["name"] is None
        assert 0 < len(group["name_prefix"]) <= 6  # the provider's limit for name_prefix
        assert group["lifecycle"]["create_before_destroy"] is True
