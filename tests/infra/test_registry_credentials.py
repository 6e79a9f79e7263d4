"""Private registry credentials in the blueprint, evaluated with the inputs varied: with them,
a Secrets Manager secret in the form ECS expects, `repositoryCredentials` on every container
and that one secret readable by the execution role; without them, none of it.

python-hcl2 parses; the few expressions involved (comparisons, `&&`, `? :`, references to
variables and locals) are evaluated here by translating them to Python, so a change of the
blueprint's expressions changes what these tests see.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from support.infra import infra_rules as rules

TF = rules.load(rules.BLUEPRINT)
WITH = {"registry_server": "ghcr.io", "registry_username": "octo", "registry_password": "ghp_x"}
WITHOUT = {"registry_server": "", "registry_username": "", "registry_password": ""}
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-registry-AbCdEf"


def evaluate(expression: str, variables: dict[str, str]) -> Any:
    """A `${...}` expression made of var./local. references, ==, !=, &&, ||, ( ) and `c ? a : b`."""
    text = expression.strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    ternary = re.fullmatch(r"(.+?)\?(.+):(.+)", text)
    if ternary:
        condition, yes, no = ternary.groups()
        chosen = yes if evaluate(condition, variables) else no
        return evaluate(chosen, variables)

    def local(match: re.Match[str]) -> str:
        return repr(evaluate(str(TF.locals[match[1]]), variables))

    text = re.sub(r"\blocal\.([a-z_]+)", local, text)
    text = re.sub(r"\bvar\.([a-z_]+)", lambda m: repr(variables[m[1]]), text)
    text = text.replace("&&", " and ").replace("||", " or ")
    assert re.fullmatch(r"[\s\w'\"().=!<>-]*", text), f"not a form evaluated here: {text}"
    return eval(text, {"__builtins__": {}}, {"true": True, "false": False})


def secret_count(variables: dict[str, str]) -> int:
    counts = {
        evaluate(TF.resources[(kind, "registry")]["count"], variables)
        for kind in ("aws_secretsmanager_secret", "aws_secretsmanager_secret_version")
    }
    assert len(counts) == 1, "the secret and its value exist together"
    return counts.pop()


def container_keys_added(variables: dict[str, str]) -> bool:
    """Whether the `repositoryCredentials` entry's filter keeps it for these inputs."""
    text = TF.resources[("aws_ecs_task_definition", "this")]["container_definitions"]
    match = re.search(
        r"\{for key, value in \{repositoryCredentials = \{credentialsParameter = "
        r"one\(aws_secretsmanager_secret\.registry\[\*\]\.arn\)\}\} : key => value if ([^}]+)\}",
        text,
    )
    assert match, "repositoryCredentials names the registry secret's ARN, under a filter"
    return bool(evaluate(match[1], variables))


def valid(variables: dict[str, str]) -> bool:
    return all(
        evaluate(rule["condition"], variables)
        for rule in TF.variables["registry_password"]["validation"]
    )


@pytest.mark.parametrize(("inputs", "expected"), [(WITH, 1), (WITHOUT, 0)])
def test_the_secret_and_repository_credentials_exist_exactly_with_credentials(inputs, expected):
    assert valid(inputs)
    assert secret_count(inputs) == expected
    assert container_keys_added(inputs) is bool(expected)


def test_the_secret_holds_what_ecs_expects():
    value = TF.resources[("aws_secretsmanager_secret_version", "registry")]["secret_string"]
    assert re.fullmatch(
        r"\$\{jsonencode\(\{username = var\.registry_username, "
        r"password = var\.registry_password\}\)\}",
        value,
    ), value
    assert TF.variables["registry_password"]["sensitive"] is True


@pytest.mark.parametrize(
    "partial",
    [
        {**WITHOUT, "registry_password": "ghp_x"},  # a secret set, the server variable not
        {**WITH, "registry_username": ""},
        {**WITHOUT, "registry_server": "ghcr.io"},
    ],
)
def test_partial_credentials_are_refused_by_validation(partial):
    assert not valid(partial)


@pytest.mark.parametrize(("inputs", "expected"), [(WITH, [SECRET_ARN]), (WITHOUT, [])])
def test_the_execution_role_may_read_the_registry_secret_and_only_it(inputs, expected):
    """execution_secret_arns = the referenced app secrets + the registry secret's splat."""
    derived = TF.locals["execution_secret_arns"]
    assert derived == (
        "${concat(local.referenced_secret_arns, aws_secretsmanager_secret.registry[*].arn)}"
    )
    splat = [SECRET_ARN] * secret_count(inputs)  # [*].arn of `count` instances
    assert splat == expected
