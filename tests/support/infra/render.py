"""The blueprint evaluated for given input variables, offline, as Terraform would expand it.

tfparse (HashiCorp's HCL and cty functions, through Aqua's defsec evaluator) reads the .tf files
with a tfvars file: variables, locals, conditionals, count and for_each are evaluated; a resource
whose count or for_each is empty is absent. Values only AWS knows after apply (ARNs, IPs) come
back as placeholders (an expression that needs one evaluates to None). Dynamic blocks are not
expanded (the blueprint keeps the statements a dynamic block renders in locals, read here).
tfparse does not run variable validations: each condition is copied into a generated local and
evaluated with the same inputs (`Rendered.refusals`), as Terraform would before a plan.
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tfparse

from support.infra import infra_rules as rules

# A valid minimal environment: what terraform.tfvars.example requires, nothing optional.
BASE_VARIABLES: dict[str, Any] = {
    "project_name": "acme",
    "environment": "staging",
    "region": "eu-west-1",
    "api_image": "ghcr.io/acme/api:1.0.0",
    "web_image": "ghcr.io/acme/web:1.0.0",
    "aws_sm_signing_secret_arn": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:sign-AbCdEf",
    "auth_key_secret_arn": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:keys-AbCdEf",
    "api_secrets": {
        "DATABASE_URL": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:db-AbCdEf",
        "REDIS_URL": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:redis-AbCdEf",
    },
}


VALIDATION_LOCAL = "validation__{variable}__{index}"
VALIDATIONS_FILE = "zz_validations.tf"


@dataclass(frozen=True)
class Rendered:
    blocks: dict[str, list[dict[str, Any]]]

    def refusals(self) -> dict[str, list[str]]:
        """Variable -> error messages of its validations that fail for these inputs."""
        refused: dict[str, list[str]] = {}
        for variable, body in _blueprint().variables.items():
            for index, validation in enumerate(body.get("validation", [])):
                holds = self.local(VALIDATION_LOCAL.format(variable=variable, index=index))
                assert isinstance(holds, bool), f"{variable} validation {index} not evaluated"
                if not holds:
                    refused.setdefault(variable, []).append(validation["error_message"])
        return refused

    def output(self, name: str) -> Any:
        for block in self.blocks.get("output", []):
            if block["__tfmeta"]["label"] == name:
                return block.get("value")
        raise KeyError(f"no output {name}")

    def outputs(self) -> dict[str, Any]:
        return {block["__tfmeta"]["label"]: block.get("value") for block in self.blocks["output"]}

    def instances(self, block_type: str, kind: str = "resource") -> dict[str, dict[str, Any]]:
        """Instances of a resource (or data source) type by address, e.g. aws_lb.this["api"]."""
        return {
            block["__tfmeta"]["path"]: block
            for block in self.blocks.get(block_type, [])
            if block["__tfmeta"].get("type") == kind
        }

    def local(self, name: str) -> Any:
        for block in self.blocks.get("locals", []):
            if name in block:
                return block[name]
        raise KeyError(f"no local {name}")

    def statements(self, document: str) -> dict[str, dict[str, Any]]:
        """data.aws_iam_policy_document.<document>'s statements by sid: its literal statement
        blocks, and the items of the local a `dynamic "statement"` iterates over."""
        address = f"data.aws_iam_policy_document.{document}"
        body = self.instances("aws_iam_policy_document", "data")[address]
        literal = body.get("statement", [])
        literal = literal if isinstance(literal, list) else [literal]  # one block reads as a dict
        found = {statement.get("sid", ""): statement for statement in literal}
        source = _blueprint().data[("aws_iam_policy_document", document)]
        for dynamic in source.get("dynamic", []):
            for_each = str(dynamic.get("statement", {}).get("for_each", ""))
            if for_each.startswith("${local.") and for_each.endswith("}"):
                for statement in self.local(for_each[len("${local.") : -1]):
                    found[statement["sid"]] = statement
        return found


@functools.cache
def _blueprint() -> rules.Terraform:
    return rules.load(rules.BLUEPRINT)


def _validations_as_locals() -> str:
    """Every variable's validation conditions as locals (VALIDATION_LOCAL), in HCL."""
    lines = ["locals {"]
    for variable, body in _blueprint().variables.items():
        for index, validation in enumerate(body.get("validation", [])):
            condition = str(validation["condition"])
            assert condition.startswith("${") and condition.endswith("}"), condition
            name = VALIDATION_LOCAL.format(variable=variable, index=index)
            lines.append(f"  {name} = {condition[2:-1]}")
    return "\n".join([*lines, "}"]) + "\n"


def _hcl(value: Any) -> str:
    """A tfvars value: JSON is valid HCL for strings, numbers, bools, lists and objects."""
    return json.dumps(value)


@functools.cache
def _render(variables_json: str) -> Rendered:
    variables = json.loads(variables_json)
    with tempfile.TemporaryDirectory(prefix="blueprint-") as directory:
        for path in rules.BLUEPRINT.glob("*.tf"):
            shutil.copy(path, Path(directory) / path.name)
        (Path(directory) / VALIDATIONS_FILE).write_text(_validations_as_locals())
        lines = [f"{name} = {_hcl(value)}" for name, value in variables.items()]
        (Path(directory) / "inputs.tfvars").write_text("\n".join(lines) + "\n")
        return Rendered(tfparse.load_from_path(directory, vars_paths=["inputs.tfvars"]))


def _is_default(variable: dict[str, Any], value: Any) -> bool:
    return "default" in variable and variable["default"] == value


def render(**overrides: Any) -> Rendered:
    """The blueprint for BASE_VARIABLES with `overrides` (a None value removes the variable)."""
    declared = _blueprint().variables
    variables = {**BASE_VARIABLES, **overrides}
    # A value equal to the variable's default renders the same: one evaluation serves both.
    variables = {
        name: value
        for name, value in variables.items()
        if value is not None and not _is_default(declared.get(name, {}), value)
    }
    return _render(json.dumps(variables, sort_keys=True))
