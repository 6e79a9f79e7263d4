"""The two GitHub roles: a deploy role holding what a release needs, an infra role for Terraform
that cannot change itself, each trusted by one repository's one GitHub environment.

The trust is evaluated for varied inputs (render.py); the policies are read as written
(python-hcl2), since their ARNs depend on the account only AWS knows.
"""

from __future__ import annotations

import fnmatch

import pytest

from support.infra import infra_rules as rules
from support.infra.render import render

TF = rules.load(rules.BLUEPRINT)

# Every AWS action shipline's deploy, rollback and lock release need (src/shipline/release;
# tests/integration/test_deploy_role_calls.py checks them against the calls the sandbox saw).
RELEASE_ACTIONS = {
    "ecs:DescribeServices",
    "ecs:DescribeTaskDefinition",
    "ecs:RegisterTaskDefinition",
    "ecs:TagResource",
    "ecs:UpdateService",
    "ecs:RunTask",
    "ecs:DescribeTasks",
    "ecs:StopTask",
    "iam:PassRole",
    "ecr:DescribeImages",
    "logs:GetLogEvents",
    "secretsmanager:DescribeSecret",
    "ssm:DescribeParameters",
    "s3:ListBucket",
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "kms:Decrypt",
    "kms:GenerateDataKey",
}
# Actions with no resource-level permissions (Service Authorization Reference): the only ones a
# deploy statement may grant on "*".
NO_RESOURCE_LEVEL = {
    "ecs:DescribeTaskDefinition",
    "ecs:RegisterTaskDefinition",
    "ssm:DescribeParameters",
}
# What `terraform plan` of the blueprint reads first, per resource and data source type prefix:
# the IAM namespace whose actions it calls.
NAMESPACES = {
    "aws_acm_": "acm",
    "aws_availability_zones": "ec2",
    "aws_caller_identity": "sts",
    "aws_cloudwatch_log_group": "logs",
    "aws_db_": "rds",
    "aws_default_security_group": "ec2",
    "aws_ecs_": "ecs",
    "aws_eip": "ec2",
    "aws_elasticache_": "elasticache",
    "aws_flow_log": "ec2",
    "aws_iam_": "iam",
    "aws_internet_gateway": "ec2",
    "aws_kms_": "kms",
    "aws_lb": "elasticloadbalancing",
    "aws_nat_gateway": "ec2",
    "aws_route53_": "route53",
    "aws_route_table": "ec2",
    "aws_s3_": "s3",
    "aws_secretsmanager_": "secretsmanager",
    "aws_security_group": "ec2",
    "aws_subnet": "ec2",
    "aws_vpc": "ec2",
}


def statements(document: str) -> dict[str, dict]:
    """The statements of data.aws_iam_policy_document.<document> as written, by sid."""
    body = TF.data[("aws_iam_policy_document", document)]
    found = {statement["sid"]: statement for statement in body.get("statement", [])}
    for dynamic in body.get("dynamic", []):
        for content in dynamic.get("statement", {}).get("content", []):
            found[content["sid"]] = content
    return found


def allowed(document: str) -> set[str]:
    return {
        action
        for statement in statements(document).values()
        if statement.get("effect", "Allow") == "Allow"
        for action in statement.get("actions", [])
    }


def grants(actions: set[str], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action, pattern) for pattern in actions)


def trust_subject(rendered, document: str) -> list[str]:
    body = rendered.instances("aws_iam_policy_document", "data")[
        f"data.aws_iam_policy_document.{document}[0]"
    ]
    [statement] = body["statement"] if isinstance(body["statement"], list) else [body["statement"]]
    conditions = {c["variable"]: c for c in statement["condition"]}
    assert conditions["token.actions.githubusercontent.com:aud"]["values"] == ["sts.amazonaws.com"]
    subject = conditions["token.actions.githubusercontent.com:sub"]
    assert subject["test"] == "StringEquals"
    return subject["values"]


# --- trust -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "deploy", "infra"),
    [
        ({}, "staging", "staging-infra"),
        ({"github_environment": "prod"}, "prod", "prod-infra"),
        ({"github_infra_environment": "staging-terraform"}, "staging", "staging-terraform"),
    ],
)
def test_each_role_trusts_one_repository_and_its_own_github_environment(inputs, deploy, infra):
    rendered = render(github_repository="acme/app", **inputs)
    assert trust_subject(rendered, "github_deploy_trust") == [f"repo:acme/app:environment:{deploy}"]
    assert trust_subject(rendered, "github_infra_trust") == [f"repo:acme/app:environment:{infra}"]
    roles = rendered.instances("aws_iam_role")
    for name in ("github_deploy", "github_infra"):
        # Longer than the jobs' timeouts: the workflows ask for 2-hour sessions.
        assert roles[f"aws_iam_role.{name}[0]"]["max_session_duration"] == 7200


def test_the_infra_environment_accepts_no_wildcard():
    condition = TF.variables["github_infra_environment"]["validation"][0]["condition"]
    assert 'regex("^[A-Za-z0-9_.-]+$", var.github_infra_environment)' in condition


def test_no_role_without_a_repository():
    roles = render().instances("aws_iam_role")
    assert not [address for address in roles if "github" in address]


# --- the deploy role: a release, nothing more -------------------------------------------------


def test_deploy_role_grants_exactly_what_a_release_calls():
    assert allowed("github_deploy") == RELEASE_ACTIONS
    assert all(s.get("effect", "Allow") == "Allow" for s in statements("github_deploy").values())


def test_deploy_role_cannot_run_terraform_or_change_iam():
    deploy = allowed("github_deploy")
    # The defect: the deploy role carried the Terraform state and, to apply, whatever a user
    # attached. Infrastructure is the infra role's; the deploy role only passes the task roles.
    assert not {a for a in deploy if a.startswith(("ec2:", "rds:", "elasticache:", "acm:"))}
    assert not [s for s in statements("github_deploy") if s.startswith("TerraformState")]
    assert {a for a in deploy if a.startswith("iam:")} == {"iam:PassRole"}
    passing = statements("github_deploy")["PassTaskRoles"]
    assert passing["resources"] == ["${aws_iam_role.execution.arn}", "${aws_iam_role.task.arn}"]
    assert passing["condition"][0]["values"] == ["ecs-tasks.amazonaws.com"]


def test_deploy_role_is_scoped_to_this_environments_resources():
    for sid, statement in statements("github_deploy").items():
        resources = statement["resources"]
        if resources == ["*"]:
            assert set(statement["actions"]) <= NO_RESOURCE_LEVEL, sid
            continue
        for resource in resources if isinstance(resources, list) else [resources]:
            text = str(resource)
            assert (
                "${local.name}" in text
                or "${local.cluster_arn}" in text
                or "${var.project_name}" in text
                or "aws_" in text
                or "local.preflight_secret_arns" in text
            ), (sid, text)
    services = statements("github_deploy")["EcsServices"]["resources"]
    assert services == [
        "arn:${local.partition}:ecs:${var.region}:${local.account_id}:service/${local.name}/*"
    ]
    assert TF.locals["cluster_arn"].endswith(":cluster/${local.name}")
    assert TF.resources[("aws_ecs_cluster", "main")]["name"] == "${local.name}"
    run_task = statements("github_deploy")["EcsMigrationTask"]
    assert run_task["condition"][0]["values"] == ["${local.cluster_arn}"]


# --- the infra role: the blueprint, not itself ------------------------------------------------


def test_infra_role_can_plan_and_apply_every_resource_of_the_blueprint():
    infra = allowed("github_infra")
    types = {kind for kind, _ in TF.resources} | {kind for kind, _ in TF.data}
    types -= {"aws_iam_policy_document", "aws_partition", "random_password"}
    for kind in sorted(types):
        namespace = next(v for k, v in NAMESPACES.items() if kind.startswith(k))
        assert any(action.split(":")[0] == namespace for action in infra), kind
    # `plan` starts by reading the zones and the caller: the old deploy role could not.
    assert grants(infra, "ec2:DescribeAvailabilityZones")
    assert grants(infra, "sts:GetCallerIdentity")
    state = statements("github_infra")["TerraformStateObjects"]["resources"]
    key = "arn:${local.partition}:s3:::${var.terraform_state_bucket}/${var.terraform_state_key}"
    assert state == [key, key + ".tflock"]


def test_infra_role_reads_and_writes_the_release_history_for_the_session():
    buckets = statements("github_infra")["BlueprintBuckets"]
    assert buckets["actions"] == ["s3:*"]
    assert "${local.history_bucket_name}" in TF.locals["blueprint_bucket_names"]
    assert "/*" in str(buckets["resources"])


def test_infra_role_cannot_change_its_own_role_or_policies():
    deny = statements("github_infra")["DenyChangingItself"]
    assert deny["effect"] == "Deny"
    assert deny["resources"] == ["${local.infra_role_arn}"]
    # Everything but reads: Terraform refreshes the role, nothing may change it.
    assert all(action.startswith(("iam:Get", "iam:List")) for action in deny["not_actions"])
    assert TF.locals["infra_role_arn"].endswith(":role/${local.infra_role_name}")
    assert TF.resources[("aws_iam_role", "github_infra")]["name"] == "${local.infra_role_name}"
    # Its inline policy is a part of the role (PutRolePolicy acts on the role's ARN).
    policy = TF.resources[("aws_iam_role_policy", "github_infra")]
    assert policy["role"] == "${aws_iam_role.github_infra[0].id}"


def test_infra_role_cannot_change_the_deploy_roles_trust_or_pass_either_role():
    infra = statements("github_infra")
    deny = infra["DenyDeployRoleTrustChanges"]
    assert deny["effect"] == "Deny"
    assert deny["resources"] == ["${local.deploy_role_arn}"]
    denied = set(TF.locals["iam_trust_changes"])
    assert {
        "iam:UpdateAssumeRolePolicy",
        "iam:PassRole",
        "iam:DeleteRole",
        "iam:CreateRole",
    } <= denied
    assert deny["actions"] == "${local.iam_trust_changes}"
    assert TF.locals["deploy_role_arn"].endswith(":role/${local.deploy_role_name}")
    assert TF.resources[("aws_iam_role", "github_deploy")]["name"] == "${local.deploy_role_name}"
    assert infra["DenyAssumingRoles"]["actions"] == ["sts:AssumeRole"]
    assert infra["DenyAssumingRoles"]["effect"] == "Deny"
    assert infra["DenyOidcProviderChanges"]["effect"] == "Deny"
    # PassRole only for the service roles, only to their services.
    passing = infra["PassServiceRoles"]
    assert passing["resources"] == "${local.service_role_arns}"
    assert {c["variable"] for c in passing["condition"]} == {"iam:PassedToService"}


def test_infra_role_grants_no_iam_wildcard_and_attaches_only_the_blueprints_policies():
    infra = statements("github_infra")
    for sid, statement in infra.items():
        if statement.get("effect", "Allow") != "Allow":
            continue
        assert not [a for a in statement.get("actions", []) if a.startswith("iam:") and "*" in a]
        assert "not_actions" not in statement, sid
    attach = infra["BlueprintManagedPolicies"]
    assert attach["condition"][0]["variable"] == "iam:PolicyARN"
    assert attach["condition"][0]["values"] == "${local.blueprint_managed_policy_arns}"
    assert "AdministratorAccess" not in str(TF.locals["blueprint_managed_policy_arns"])


def test_infra_role_policy_does_not_follow_the_apps_secrets_or_services():
    # The infra role cannot change its own policy: a policy that followed api_secrets or the
    # services would turn every such change into an admin apply.
    text = str(TF.data[("aws_iam_policy_document", "github_infra")])
    for moving in ("secret_arns", "var.api_secrets", "var.web_secrets", "aws_ecs_service"):
        assert moving not in text, moving
