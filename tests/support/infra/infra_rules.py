"""Static rules for a Terraform directory, read with python-hcl2.

Each rule returns the problems it finds (empty: the rule holds). The tests run them on the
blueprint (no problems) and on tests/infra/fixtures/insecure (every rule must complain), so a
rule that cannot fail is caught.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

REPO = Path(__file__).resolve().parents[3]
BLUEPRINT = REPO / "ops" / "infra" / "aws"
INSECURE = Path(__file__).resolve().parents[2] / "infra" / "fixtures" / "insecure"

_OPTIONS = hcl2.SerializationOptions(
    strip_string_quotes=True, explicit_blocks=False, with_comments=False
)

# The defaults the hosting guide calls secure; dev relaxes them through tfvars, never here.
SECURE_DEFAULTS: dict[str, Any] = {
    "enable_https": True,
    "db_deletion_protection": True,
    "db_skip_final_snapshot": False,
    "redis_require_auth_token": True,
    "secrets_provider": "aws_sm",
    "storage_provider": "s3",
    "alb_deletion_protection": True,
    "readonly_root_filesystem": True,
}

# Attributes that hold a secret value: only references (${...}) may appear there.
SECRET_ATTRIBUTES = {"password", "master_password", "auth_token", "secret_string", "token"}
# Variables whose name says they hold a secret (not a pointer to one).
SECRET_VARIABLE = re.compile(r"(^|_)(password|token|secret)$", re.IGNORECASE)
# Secret-looking text anywhere in a .tf file.
SECRET_TEXT = {
    "an AWS access key": re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "a GitHub token": re.compile(r"\b(?:ghp|gho|ghu|ghs|github_pat)_[A-Za-z0-9_]{20,}"),
    "a password in a URL": re.compile(r"[a-z][a-z0-9+.-]*://[^\s:/@\"'$]+:[^\s@/\"'$]+@"),
}
# Environment names that are credentials: they go through `secrets`, never `environment`.
CREDENTIAL_ENV = re.compile(r"^(DATABASE_URL|REDIS_URL|.*(PASSWORD|_TOKEN|SECRET_KEY|API_KEY).*)$")
PLAIN_ENV_ENTRY = re.compile(r'name\s*=\s*"([A-Za-z0-9_]+)"\s*,\s*value\s*=')
LOCAL_REFERENCE = re.compile(r"^\$\{local\.([a-z0-9_]+)\}$")


@dataclass(frozen=True)
class Terraform:
    """The blocks of every .tf file in one directory, by kind."""

    directory: Path
    resources: dict[tuple[str, str], dict[str, Any]]
    data: dict[tuple[str, str], dict[str, Any]]
    variables: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    locals: dict[str, Any]
    modules: dict[str, dict[str, Any]]
    texts: dict[str, str]

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: body for (rtype, name), body in self.resources.items() if rtype == kind}


def load(directory: Path) -> Terraform:
    resources: dict[tuple[str, str], dict[str, Any]] = {}
    data: dict[tuple[str, str], dict[str, Any]] = {}
    variables: dict[str, dict[str, Any]] = {}
    outputs: dict[str, dict[str, Any]] = {}
    local_values: dict[str, Any] = {}
    modules: dict[str, dict[str, Any]] = {}
    texts: dict[str, str] = {}
    for path in sorted(directory.glob("*.tf")):
        texts[path.name] = path.read_text()
        with path.open() as handle:
            document = hcl2.load(handle, serialization_options=_OPTIONS)
        for block in document.get("resource", []):
            for rtype, named in block.items():
                for name, body in named.items():
                    resources[(rtype, name)] = body
        for block in document.get("data", []):
            for dtype, named in block.items():
                for name, body in named.items():
                    data[(dtype, name)] = body
        for block in document.get("variable", []):
            variables.update(block)
        for block in document.get("output", []):
            outputs.update(block)
        for block in document.get("locals", []):
            local_values.update(block)
        for block in document.get("module", []):
            modules.update(block)
    return Terraform(directory, resources, data, variables, outputs, local_values, modules, texts)


def _first(value: Any) -> Any:
    """A nested block reads as a list of one dict."""
    if isinstance(value, list):
        return value[0] if value else {}
    return value if value is not None else {}


def _is_reference(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("${")


def _refers_to(value: Any, name: str) -> bool:
    return isinstance(value, str) and f"var.{name}" in value


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------


def secure_default_problems(tf: Terraform) -> list[str]:
    problems = []
    for name, expected in SECURE_DEFAULTS.items():
        variable = tf.variables.get(name)
        if variable is None:
            problems.append(f"variable {name} is missing")
        elif variable.get("default") != expected:
            problems.append(
                f"variable {name} defaults to {variable.get('default')!r}, not {expected!r}"
            )
    return problems


def database_problems(tf: Terraform) -> list[str]:
    problems = []
    for name, db in tf.of_type("aws_db_instance").items():
        where = f"aws_db_instance.{name}"
        if db.get("storage_encrypted") is not True:
            problems.append(f"{where}: storage_encrypted is not true")
        if db.get("publicly_accessible") is not False:
            problems.append(f"{where}: publicly_accessible is not false")
        if "password" in db:
            problems.append(f"{where}: sets a password in code")
        if db.get("manage_master_user_password") is not True:
            problems.append(f"{where}: the master password is not managed by RDS")
        if not _refers_to(db.get("deletion_protection"), "db_deletion_protection") and (
            db.get("deletion_protection") is not True
        ):
            problems.append(f"{where}: deletion_protection is neither true nor the variable")
        if not _refers_to(db.get("skip_final_snapshot"), "db_skip_final_snapshot") and (
            db.get("skip_final_snapshot") is not False
        ):
            problems.append(f"{where}: skip_final_snapshot is neither false nor the variable")
        if not db.get("final_snapshot_identifier"):
            problems.append(f"{where}: no final_snapshot_identifier")
        if db.get("backup_retention_period") in (None, 0):
            problems.append(f"{where}: backups are off")
    return problems


def redis_problems(tf: Terraform) -> list[str]:
    problems = []
    for name, group in tf.of_type("aws_elasticache_replication_group").items():
        where = f"aws_elasticache_replication_group.{name}"
        if group.get("transit_encryption_enabled") is not True:
            problems.append(f"{where}: TLS in transit is off")
        if group.get("at_rest_encryption_enabled") is not True:
            problems.append(f"{where}: encryption at rest is off")
        if not _refers_to(group.get("auth_token"), "redis_require_auth_token"):
            problems.append(f"{where}: auth_token does not follow redis_require_auth_token")
    return problems


def _bucket_companions(tf: Terraform, bucket: str) -> dict[str, dict[str, Any]]:
    """Resources configuring aws_s3_bucket.<bucket>, by type."""
    found = {}
    for (rtype, _), body in tf.resources.items():
        if rtype.startswith("aws_s3_bucket_") and _names_bucket(body.get("bucket"), bucket):
            found[rtype] = body
    return found


def _names_bucket(value: Any, bucket: str) -> bool:
    """`aws_s3_bucket.<bucket>.id` or `aws_s3_bucket.<bucket>[each.key].arn` inside value."""
    return re.search(rf"aws_s3_bucket\.{re.escape(bucket)}[.\[]", str(value)) is not None


def bucket_problems(tf: Terraform) -> list[str]:
    problems = []
    for name in tf.of_type("aws_s3_bucket"):
        where = f"aws_s3_bucket.{name}"
        companions = _bucket_companions(tf, name)
        block = companions.get("aws_s3_bucket_public_access_block")
        flags = ("block_public_acls", "block_public_policy", "ignore_public_acls")
        flags += ("restrict_public_buckets",)
        if block is None or not all(block.get(flag) is True for flag in flags):
            problems.append(f"{where}: public access is not fully blocked")
        if "aws_s3_bucket_server_side_encryption_configuration" not in companions:
            problems.append(f"{where}: no default encryption")
        versioning = companions.get("aws_s3_bucket_versioning")
        status = _first(_first(versioning or {}).get("versioning_configuration")).get("status")
        if status != "Enabled":
            problems.append(f"{where}: versioning is not enabled")
        tls_only = any(
            _names_bucket(body, name) and "aws:SecureTransport" in str(body)
            for (dtype, _), body in tf.data.items()
            if dtype == "aws_iam_policy_document"
        )
        if "aws_s3_bucket_policy" not in companions or not tls_only:
            problems.append(f"{where}: no policy denying requests without TLS")
    return problems


def literal_secret_problems(tf: Terraform) -> list[str]:
    problems = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                literal = isinstance(inner, str) and inner and not _is_reference(inner)
                if key in SECRET_ATTRIBUTES and literal:
                    problems.append(f"{where}.{key} is a literal secret")
                walk(inner, f"{where}.{key}")
        elif isinstance(value, list):
            for item in value:
                walk(item, where)

    for (rtype, name), body in tf.resources.items():
        walk(body, f"{rtype}.{name}")
    for (dtype, name), body in tf.data.items():
        walk(body, f"data.{dtype}.{name}")
    for name, variable in tf.variables.items():
        holds_secret = SECRET_VARIABLE.search(name) or variable.get("sensitive") is True
        default = variable.get("default")
        if holds_secret and default not in (None, "") and not isinstance(default, bool):
            problems.append(f"variable {name} has a default value (a secret in code)")
    for filename, text in tf.texts.items():
        for what, pattern in SECRET_TEXT.items():
            if pattern.search(text):
                problems.append(f"{filename} contains {what}")
    return problems


def plain_env_credential_problems(tf: Terraform) -> list[str]:
    problems = []
    for name, task in tf.of_type("aws_ecs_task_definition").items():
        for env_name in PLAIN_ENV_ENTRY.findall(str(task.get("container_definitions", ""))):
            if CREDENTIAL_ENV.match(env_name):
                problems.append(
                    f"aws_ecs_task_definition.{name}: {env_name} is in the plain environment"
                )
    api_env = tf.variables.get("api_env")
    conditions = " ".join(
        str(validation.get("condition", "")) for validation in (api_env or {}).get("validation", [])
    )
    if not all(name in conditions for name in ("DATABASE_URL", "REDIS_URL")):
        problems.append("variable api_env does not refuse DATABASE_URL and REDIS_URL")
    return problems


def service_problems(tf: Terraform) -> list[str]:
    problems = []
    for name, service in tf.of_type("aws_ecs_service").items():
        where = f"aws_ecs_service.{name}"
        ignored = _first(service.get("lifecycle")).get("ignore_changes", [])
        if "task_definition" not in ignored:
            problems.append(f"{where}: does not ignore task_definition (releases move it)")
        if "desired_count" not in ignored:
            problems.append(f"{where}: does not ignore desired_count (shipline owns it)")
        breaker = _first(service.get("deployment_circuit_breaker"))
        if breaker.get("enable") is not True or breaker.get("rollback") is not True:
            problems.append(f"{where}: no circuit breaker with rollback")
        if _first(service.get("network_configuration")).get("assign_public_ip") is not False:
            problems.append(f"{where}: tasks get public IPs")
    return problems


def _resolve(tf: Terraform, value: str) -> str:
    """Follow `${local.x}` references to their expressions."""
    seen = set()
    while (match := LOCAL_REFERENCE.match(value)) and match.group(1) not in seen:
        seen.add(match.group(1))
        value = str(tf.locals.get(match.group(1), value))
    return value


def oidc_trust_problems(tf: Terraform) -> list[str]:
    problems = []
    for (dtype, name), body in tf.data.items():
        if dtype != "aws_iam_policy_document":
            continue
        for statement in body.get("statement", []):
            if "sts:AssumeRoleWithWebIdentity" not in statement.get("actions", []):
                continue
            where = f"data.aws_iam_policy_document.{name}"
            conditions = {
                str(condition.get("variable", "")).rsplit(":", 1)[-1]: condition
                for condition in statement.get("condition", [])
            }
            audience = conditions.get("aud")
            if (
                audience is None
                or audience.get("test") != "StringEquals"
                or audience.get("values") != ["sts.amazonaws.com"]
            ):
                problems.append(f"{where}: the audience is not pinned to sts.amazonaws.com")
            subject = conditions.get("sub")
            values = [_resolve(tf, str(value)) for value in (subject or {}).get("values", [])]
            if (
                subject is None
                or subject.get("test") != "StringEquals"
                or not values
                or not all(value.startswith("repo:") and "*" not in value for value in values)
                or not all(":environment:" in value for value in values)
            ):
                problems.append(
                    f"{where}: sub is not one repository's environment (StringEquals, no wildcard)"
                )
    return problems


RULES = {
    "secure defaults": secure_default_problems,
    "database": database_problems,
    "redis": redis_problems,
    "buckets": bucket_problems,
    "literal secrets": literal_secret_problems,
    "credentials in plain environment": plain_env_credential_problems,
    "services": service_problems,
    "GitHub OIDC trust": oidc_trust_problems,
}


_ASSIGNMENT = re.compile(r'^(\s*)([A-Za-z0-9_"-]+)(\s*)=(?!=)(.*)$')


def _net_brackets(text: str) -> int:
    return sum(text.count(c) for c in "{[(") - sum(text.count(c) for c in "}])")


def alignment_problems(text: str, filename: str = "") -> list[str]:
    """terraform fmt's alignment rule, approximately: consecutive one-line attributes align
    their `=`; an attribute opening a multi-line value (or any other line) ends the run and
    keeps one space. `terraform fmt -check` itself runs in GitHub-hosted CI."""
    lines = text.splitlines()
    problems: list[str] = []
    run: list[tuple[int, re.Match[str]]] = []

    def close() -> None:
        if run:
            width = max(len(match.group(2)) for _, match in run)
            for number, match in run:
                if len(match.group(3)) != width - len(match.group(2)) + 1:
                    problems.append(f"{filename}:{number + 1}: `=` not aligned")
        run.clear()

    for number, line in enumerate(lines):
        match = _ASSIGNMENT.match(line)
        if match is None:
            close()
            continue
        if _net_brackets(match.group(4)) > 0:
            close()
            if match.group(3) != " ":
                problems.append(f"{filename}:{number + 1}: one space before `=` expected")
            continue
        if run and match.group(1) != run[0][1].group(1):
            close()
        run.append((number, match))
    close()
    return problems
