"""checkov checks for invariants of the shipline blueprint that checkov's own checks miss.

Run from the blueprint directory with `checkov -d . --external-checks-dir policies`. checkov
hands each check the resource's attributes as lists (`{"deletion_protection": [True]}`), with
variables resolved to their defaults where it can.
"""

from __future__ import annotations

import re
from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.data.base_check import BaseDataCheck
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

# Names that must reach a container through `secrets` (valueFrom), never `environment`.
CREDENTIAL_NAME = re.compile(r"^(DATABASE_URL|REDIS_URL|.*(PASSWORD|_TOKEN|SECRET_KEY|API_KEY).*)$")
# One {name = ..., value = ...} entry of a container's environment, as checkov renders it.
ENVIRONMENT_ENTRY = re.compile(r"\{[^{}]*\}")
ENTRY_NAME = re.compile(r"""['"]name['"]\s*:\s*['"]([A-Za-z0-9_]+)['"]""")
ENTRY_HAS_VALUE = re.compile(r"""['"]value['"]\s*:""")


def first(conf: dict[str, Any], key: str, default: Any = None) -> Any:
    """checkov wraps every attribute value in a list: the value itself."""
    value = conf.get(key, [default])
    if isinstance(value, list):
        return value[0] if value else default
    return value


def is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


class ServiceIgnoresTaskDefinition(BaseResourceCheck):
    """Releases move ECS services between task definitions; Terraform must not move them back."""

    def __init__(self) -> None:
        super().__init__(
            name="ECS service ignores task_definition changes (releases own it)",
            id="CKV_SHIPLINE_1",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["aws_ecs_service"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        for lifecycle in conf.get("lifecycle", []):
            ignored = first(lifecycle, "ignore_changes", [])
            if ignored == "all" or (isinstance(ignored, list) and "task_definition" in ignored):
                return CheckResult.PASSED
        return CheckResult.FAILED


class ServiceRollsBackFailedDeployments(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="ECS service has the deployment circuit breaker with rollback",
            id="CKV_SHIPLINE_2",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["aws_ecs_service"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        breaker = first(conf, "deployment_circuit_breaker", {}) or {}
        if is_true(first(breaker, "enable")) and is_true(first(breaker, "rollback")):
            return CheckResult.PASSED
        return CheckResult.FAILED


class NoCredentialsInContainerEnvironment(BaseResourceCheck):
    """DATABASE_URL, REDIS_URL and password-like values go through `secrets`, never plain env."""

    def __init__(self) -> None:
        super().__init__(
            name="Container environment holds no credentials (DATABASE_URL, REDIS_URL, passwords)",
            id="CKV_SHIPLINE_3",
            categories=[CheckCategories.SECRETS],
            supported_resources=["aws_ecs_task_definition"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        text = str(conf.get("container_definitions", ""))
        for entry in ENVIRONMENT_ENTRY.findall(text):
            name = ENTRY_NAME.search(entry)
            if name and ENTRY_HAS_VALUE.search(entry) and CREDENTIAL_NAME.match(name.group(1)):
                return CheckResult.FAILED
        return CheckResult.PASSED


class DatabasePasswordManagedByRds(BaseResourceCheck):
    """The master password lives in Secrets Manager (RDS-managed), never in code or state."""

    def __init__(self) -> None:
        super().__init__(
            name="RDS master password is managed by RDS in Secrets Manager, not set in code",
            id="CKV_SHIPLINE_4",
            categories=[CheckCategories.SECRETS],
            supported_resources=["aws_db_instance", "aws_rds_cluster"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        if "password" in conf or "master_password" in conf:
            return CheckResult.FAILED
        if is_true(first(conf, "manage_master_user_password")):
            return CheckResult.PASSED
        return CheckResult.FAILED


class DatabaseKeepsFinalSnapshot(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="RDS takes a final snapshot on destroy by default",
            id="CKV_SHIPLINE_5",
            categories=[CheckCategories.BACKUP_AND_RECOVERY],
            supported_resources=["aws_db_instance"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        if is_true(first(conf, "skip_final_snapshot", False)):
            return CheckResult.FAILED
        if not first(conf, "final_snapshot_identifier"):
            return CheckResult.FAILED
        return CheckResult.PASSED


class GitHubOidcTrustScoped(BaseDataCheck):
    """A GitHub OIDC trust must pin the audience and one repository's subject, without wildcards.

    checkov's own OIDC checks pass when the principal is a reference, not a literal ARN.
    """

    def __init__(self) -> None:
        super().__init__(
            name="GitHub OIDC trust pins aud and a repository-scoped sub without wildcards",
            id="CKV_SHIPLINE_6",
            categories=[CheckCategories.IAM],
            supported_data=["aws_iam_policy_document"],
        )

    def scan_data_conf(self, conf: dict[str, Any]) -> CheckResult:
        for statement in conf.get("statement", []):
            actions = first(statement, "actions", []) or []
            if "sts:AssumeRoleWithWebIdentity" not in actions:
                continue
            if not trust_is_scoped(statement.get("condition", [])):
                return CheckResult.FAILED
        return CheckResult.PASSED


def trust_is_scoped(conditions: list[dict[str, Any]]) -> bool:
    audience_pinned = False
    subject_scoped = False
    for condition in conditions:
        test = first(condition, "test")
        variable = str(first(condition, "variable", ""))
        values = first(condition, "values", []) or []
        if not isinstance(values, list) or not values:
            return False
        if variable.endswith(":aud"):
            audience_pinned = test == "StringEquals" and values == ["sts.amazonaws.com"]
        elif variable.endswith(":sub"):
            subject_scoped = test == "StringEquals" and all(
                str(value).startswith("repo:") and "*" not in str(value) for value in values
            )
    return audience_pinned and subject_scoped


class TaskDefinitionRevisionsKept(BaseResourceCheck):
    """Rollbacks return services to earlier revisions; Terraform must not deregister them."""

    def __init__(self) -> None:
        super().__init__(
            name="ECS task definition keeps old revisions (skip_destroy) for rollbacks",
            id="CKV_SHIPLINE_7",
            categories=[CheckCategories.BACKUP_AND_RECOVERY],
            supported_resources=["aws_ecs_task_definition"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        return CheckResult.PASSED if is_true(first(conf, "skip_destroy")) else CheckResult.FAILED


service_ignores_task_definition = ServiceIgnoresTaskDefinition()
service_rolls_back = ServiceRollsBackFailedDeployments()
no_credentials_in_environment = NoCredentialsInContainerEnvironment()
database_password_managed = DatabasePasswordManagedByRds()
database_keeps_final_snapshot = DatabaseKeepsFinalSnapshot()
github_oidc_trust_scoped = GitHubOidcTrustScoped()
task_definition_revisions_kept = TaskDefinitionRevisionsKept()
