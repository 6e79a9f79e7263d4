"""The Terraform blueprint, read with python-hcl2: structure, contract and secure defaults."""

from __future__ import annotations

import json
import re

import hcl2
import pytest

from shipline.env.inventory import INVENTORY_PATH
from support.infra import infra_rules as rules

TF = rules.load(rules.BLUEPRINT)

# The hosting guide's "Terraform -> Env Mapping" inputs: each is a variable AND an output of the
# same name (shipline env from-terraform reads them).
MAPPED_INPUTS = [
    "environment",
    "region",
    "api_base_url",
    "app_public_url",
    "secrets_provider",
    "aws_sm_signing_secret_arn",
    "auth_key_secret_arn",
    "auth_key_secret_name",
    "auth_key_storage_provider",
    "storage_provider",
    "storage_bucket_name",
]
DOCUMENTED_OUTPUTS = [
    "api_url",
    "web_url",
    "cluster_name",
    "api_service_name",
    "web_service_name",
    "worker_service_name",
    "api_task_definition_arn",
    "web_task_definition_arn",
    "worker_task_definition_arn",
    "history_bucket",
]
GUIDE_VARIABLES = [
    *MAPPED_INPUTS,
    "enable_https",
    "acm_certificate_arn",
    "db_deletion_protection",
    "db_skip_final_snapshot",
    "redis_require_auth_token",
    "registry_server",
    "registry_username",
    "registry_password",
    "api_env",
    "api_secrets",
    "api_image",
    "web_image",
    "api_desired_count",
    "web_desired_count",
    "worker_desired_count",
]
CONCERN_FILES = [
    "versions.tf",
    "variables.tf",
    "outputs.tf",
    "network.tf",
    "ecs.tf",
    "alb.tf",
    "dns.tf",
    "rds.tf",
    "redis.tf",
    "storage.tf",
    "secrets.tf",
    "iam.tf",
    "github-oidc.tf",
    "logs.tf",
]


def validation_text(variable: str) -> str:
    return json.dumps(TF.variables[variable].get("validation", []))


@pytest.mark.parametrize("filename", CONCERN_FILES)
def test_one_file_per_concern(filename):
    assert filename in TF.texts


@pytest.mark.parametrize("name", rules.RULES)
def test_blueprint_passes_rule(name):
    assert rules.RULES[name](TF) == []


@pytest.mark.parametrize("name", GUIDE_VARIABLES)
def test_guide_variable_is_declared_typed_and_described(name):
    variable = TF.variables.get(name)
    assert variable is not None, f"variable {name} missing"
    assert variable.get("type"), f"variable {name} has no type"
    assert variable.get("description"), f"variable {name} has no description"


def test_every_variable_and_output_is_described():
    undocumented = [name for name, v in TF.variables.items() if not v.get("description")]
    undocumented += [name for name, o in TF.outputs.items() if not o.get("description")]
    assert undocumented == []


@pytest.mark.parametrize("name", MAPPED_INPUTS)
def test_mapped_input_is_output_under_its_own_name(name):
    assert name in TF.variables
    assert name in TF.outputs


@pytest.mark.parametrize("name", DOCUMENTED_OUTPUTS)
def test_documented_output_exists(name):
    assert name in TF.outputs


def test_env_inventory_terraform_inputs_are_variables_and_outputs():
    inventory = json.loads(INVENTORY_PATH.read_text(encoding="utf-8"))
    inputs = set()
    for entry in inventory["variables"]:
        if "terraform_input" in entry:
            inputs.add(entry["terraform_input"])
        if "terraform_preferred_input" in entry:
            inputs.add(entry["terraform_preferred_input"]["input"])
    assert inputs, "the inventory names no terraform_input"
    assert sorted(inputs - set(TF.variables)) == [], "inputs missing from variables.tf"
    assert sorted(inputs - set(TF.outputs)) == [], "inputs missing from outputs.tf"
    extra = set(inventory.get("terraform_extra_outputs", {}))
    assert sorted(extra - set(TF.outputs)) == [], "extra outputs missing from outputs.tf"


def test_defaults_of_the_guide():
    assert TF.variables["secrets_provider"]["default"] == "aws_sm"
    assert TF.variables["storage_provider"]["default"] == "s3"
    # null follows secrets_provider
    assert TF.variables["auth_key_storage_provider"]["default"] is None
    assert "coalesce(var.auth_key_storage_provider, var.secrets_provider)" in str(
        TF.locals["auth_key_storage_provider"]
    )


@pytest.mark.parametrize(
    ("variable", "must_mention"),
    [
        ("api_env", ["DATABASE_URL", "REDIS_URL"]),
        ("api_secrets", ["DATABASE_URL", "REDIS_URL"]),
        ("acm_certificate_arn", ["var.enable_https", "var.route53_zone_id"]),
        ("aws_sm_signing_secret_arn", ["var.secrets_provider", '\\"aws_sm\\"']),
        ("auth_key_secret_arn", ["var.auth_key_storage_provider", "var.secrets_provider"]),
        ("registry_password", ["var.registry_server", "var.registry_username"]),
        ("enable_billing_worker", ["var.api_desired_count"]),
        ("route53_zone_id", ["var.api_domain_name", "var.app_domain_name"]),
        ("github_repository", ["regex"]),
    ],
)
def test_validations_guard_the_rules(variable, must_mention):
    text = validation_text(variable)
    for needle in must_mention:
        assert needle in text, f"{variable}: no validation mentions {needle}"


def test_registry_password_is_sensitive_without_default_value():
    password = TF.variables["registry_password"]
    assert password.get("sensitive") is True
    assert password.get("default") == ""


def test_billing_topology_per_guide():
    assert TF.locals["worker_billing_env"] == {
        "ENABLE_BILLING_RETRY_WORKER": "true",
        "BILLING_RETRY_DEPLOYMENT_MODE": "dedicated",
    }
    api = TF.locals["api_billing_env"]["ENABLE_BILLING_RETRY_WORKER"]
    assert api == '${var.enable_billing_worker ? "false" : "true"}'
    # The worker is optional.
    assert "var.enable_billing_worker" in TF.locals["services"]
    assert TF.variables["enable_billing_worker"]["type"] == "bool"


def test_services_run_in_private_subnets_behind_target_groups():
    service = TF.of_type("aws_ecs_service")["this"]
    network = service["network_configuration"][0]
    assert network["subnets"] == "${aws_subnet.private[*].id}"
    assert network["assign_public_ip"] is False
    assert service["launch_type"] == "FARGATE"


def test_target_groups_check_readiness_and_drain_quickly():
    assert TF.locals["load_balanced"]["api"]["health_path"] == "/health/ready"
    assert TF.locals["load_balanced"]["web"]["health_path"] == "/api/health/ready"
    group = TF.of_type("aws_lb_target_group")["this"]
    assert group["deregistration_delay"] <= 60
    assert group["health_check"][0]["interval"] <= 15


def test_http_redirects_to_https_when_enabled():
    http = TF.of_type("aws_lb_listener")["http"]["default_action"][0]
    assert http["type"] == '${var.enable_https ? "redirect" : "forward"}'
    https = TF.of_type("aws_lb_listener")["https"]
    assert https["certificate_arn"] == "${local.certificate_arn}"
    assert https["ssl_policy"].startswith("ELBSecurityPolicy-TLS13")


def test_cluster_has_container_insights():
    setting = TF.of_type("aws_ecs_cluster")["main"]["setting"][0]
    assert setting == {"name": "containerInsights", "value": "enabled"}


def test_task_definitions_keep_old_revisions_for_rollbacks():
    assert TF.of_type("aws_ecs_task_definition")["this"]["skip_destroy"] is True


def test_only_local_modules():
    sources = [module.get("source", "") for module in TF.modules.values()]
    assert [source for source in sources if not source.startswith("./")] == []


def test_providers_and_terraform_are_pinned():
    text = TF.texts["versions.tf"]
    assert re.search(r'required_version\s*=\s*">= 1\.11', text)
    assert re.search(r'version\s*=\s*"~> 5\.\d+"', text)
    assert 'backend "s3"' in text


def test_backend_example_locks_and_encrypts():
    example = (rules.BLUEPRINT / "backend.hcl.example").read_text()
    assert re.search(r"use_lockfile\s*=\s*true", example)
    assert re.search(r"encrypt\s*=\s*true", example)


def read_tfvars(name: str) -> dict:
    with (rules.BLUEPRINT / name).open() as handle:
        return hcl2.load(handle, serialization_options=rules._OPTIONS)


@pytest.mark.parametrize("example", ["terraform.tfvars.example", "dev.tfvars.example"])
def test_tfvars_examples_set_declared_variables_and_every_required_one(example):
    values = read_tfvars(example)
    assert sorted(set(values) - set(TF.variables)) == []
    required = {name for name, variable in TF.variables.items() if "default" not in variable}
    assert sorted(required - set(values)) == []
    assert "registry_password" not in values


def test_production_example_keeps_secure_defaults():
    values = read_tfvars("terraform.tfvars.example")
    relaxed = {
        name
        for name, secure in rules.SECURE_DEFAULTS.items()
        if name in values and values[name] != secure
    }
    assert relaxed == set(), f"production example overrides {relaxed}"


def test_dev_example_relaxes_teardown_protections():
    values = read_tfvars("dev.tfvars.example")
    assert values["db_deletion_protection"] is False
    assert values["db_skip_final_snapshot"] is True
    assert values["enable_https"] is False


def test_readme_documents_every_input_and_output():
    readme = (rules.BLUEPRINT / "README.md").read_text()
    missing = [name for name in [*TF.variables, *TF.outputs] if f"`{name}`" not in readme]
    assert missing == []


def _code(text: str) -> str:
    """The .tf text without comment lines (they may name things that do not exist) and without
    `moved` blocks' `from` (an address that no longer exists, by design)."""
    return "\n".join(
        line
        for line in text.splitlines()
        if not line.strip().startswith("#") and not re.match(r"\s*from\s*=", line)
    )


CODE = "\n".join(_code(text) for text in TF.texts.values())


def test_every_reference_resolves():
    # terraform validate runs only in GitHub-hosted CI; catch dangling names here.
    variables = set(re.findall(r"\bvar\.([a-z0-9_]+)", CODE))
    local_names = set(re.findall(r"\blocal\.([a-z0-9_]+)", CODE))
    data = set(re.findall(r"\bdata\.([a-z0-9_]+)\.([a-z0-9_]+)", CODE))
    resources = {
        (rtype, name)
        for rtype, name in re.findall(r"(?<![.\w])((?:aws|random)_[a-z0-9_]+)\.([a-z0-9_]+)", CODE)
    }
    assert sorted(variables - set(TF.variables)) == []
    assert sorted(local_names - set(TF.locals)) == []
    assert sorted(data - set(TF.data)) == []
    assert sorted(resources - set(TF.resources)) == []


def test_every_variable_is_used():
    used = set(re.findall(r"\bvar\.([a-z0-9_]+)", CODE))
    assert sorted(set(TF.variables) - used) == []


def statements(document: str) -> dict[str, dict]:
    """The statements of data.aws_iam_policy_document.<document>, by sid."""
    body = TF.data[("aws_iam_policy_document", document)]
    found = {}
    for statement in body.get("statement", []):
        found[statement.get("sid", "")] = statement
    for dynamic in body.get("dynamic", []):
        for content in dynamic.get("statement", {}).get("content", []):
            found[content.get("sid", "")] = content
    return found


def test_execution_role_reads_exactly_the_referenced_secrets():
    # The statements per secret kind are evaluated in test_blueprint_behaviour.py; here, that
    # the policy renders them and that they come from the referenced secrets only.
    dynamic = TF.data[("aws_iam_policy_document", "execution_secrets")]["dynamic"][0]
    assert dynamic["statement"]["for_each"] == "${local.execution_secret_statements}"
    derived = TF.locals["execution_secret_arns"]
    assert "local.referenced_secret_arns" in derived
    assert "aws_secretsmanager_secret.registry[*].arn" in derived
    referenced = TF.locals["referenced_secret_arns"]
    assert "var.api_secrets" in referenced and "var.web_secrets" in referenced


def test_task_role_gets_signing_and_keyset_secrets_and_the_storage_bucket():
    task = statements("task")
    dynamic = TF.data[("aws_iam_policy_document", "task")]["dynamic"][0]
    assert dynamic["statement"]["for_each"] == "${local.task_secret_statements}"
    rendered = str(TF.locals["task_secret_statements"])
    assert "secretsmanager:PutSecretValue" in rendered and "local.app_secret_arns" in rendered
    assert "var.aws_sm_signing_secret_arn" in TF.locals["app_secret_arns"]
    assert "var.auth_key_secret_arn" in TF.locals["app_secret_arns"]
    bucket = task["StorageBucket"]
    assert "s3:ListBucket" in bucket["actions"]  # HeadBucket is authorized by ListBucket
    assert bucket["resources"] == ['${aws_s3_bucket.this["storage"].arn}']
    objects = task["StorageObjects"]
    assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"} <= set(objects["actions"])


def test_deploy_role_trust_names_one_repository_and_environment():
    subject = TF.locals["github_subject"]
    assert subject == "repo:${var.github_repository}:environment:${local.github_environment}"
    # The variables that fill the subject accept no wildcard (RE2 and Python agree here).
    for variable, good, bad in [
        ("github_repository", "example-org/agent-saas", "example-org/*"),
        ("github_environment", "production", "prod*"),
    ]:
        condition = TF.variables[variable]["validation"][0]["condition"]
        pattern = re.search(r'regex\("(.+?)", var\.', condition).group(1).replace("\\\\", "\\")
        assert re.match(pattern, good), (variable, pattern)
        assert not re.match(pattern, bad), (variable, pattern)


def test_network_spans_zones_with_nat_choice_and_flow_logs():
    assert TF.variables["az_count"]["default"] == 2
    assert "contains([2, 3], var.az_count)" in validation_text("az_count")
    assert "per_az" in validation_text("nat_gateway_mode")
    assert TF.resources[("aws_nat_gateway", "main")]["count"] == "${local.nat_gateway_count}"
    flow_log = TF.resources[("aws_flow_log", "main")]
    assert flow_log["traffic_type"] == "ALL"
    assert TF.resources[("aws_subnet", "public")]["map_public_ip_on_launch"] is False


def test_registry_credentials_become_repository_credentials():
    task = TF.of_type("aws_ecs_task_definition")["this"]["container_definitions"]
    assert "repositoryCredentials" in task
    assert "aws_secretsmanager_secret.registry[*].arn" in task
    version = TF.resources[("aws_secretsmanager_secret_version", "registry")]
    assert "var.registry_password" in version["secret_string"]


def test_equals_signs_are_aligned_like_terraform_fmt():
    problems = [p for name, text in TF.texts.items() for p in rules.alignment_problems(text, name)]
    assert problems == []


def test_alignment_check_catches_misalignment():
    text = 'resource "x" "y" {\n  name = "a"\n  description = "b"\n  tags   = {\n  }\n}\n'
    assert rules.alignment_problems(text, "x.tf") == [
        "x.tf:2: `=` not aligned",
        "x.tf:4: one space before `=` expected",
    ]
