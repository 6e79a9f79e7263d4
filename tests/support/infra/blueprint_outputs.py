"""The blueprint's `terraform output -json`, evaluated offline for given inputs.

tfparse (see render.py) evaluates the variables and locals, but neither the instances of a
for_each resource nor the outputs that read them (`aws_ecs_service.this["api"].name`). This
takes that last step for the shapes the outputs use: an instance's attribute is the resource's
own expression for it, read from the .tf files (python-hcl2), with `each.key` and `each.value`
bound to that instance of the for_each collection tfparse evaluated; `try(REF, null)` is null
when the instance does not exist. Only the account id, which AWS alone knows, is given (it names
the default buckets); outputs whose value is known only after apply (ARNs, DNS names) are left
out, so a mapping that needs one fails loudly instead of reading a placeholder.
"""

from __future__ import annotations

import functools
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import hcl2
import tfparse

from support.infra import infra_rules as rules
from support.infra.render import Rendered

ACCOUNT_EXPRESSION = "data.aws_caller_identity.current.account_id"
TFVARS_EXAMPLE = rules.BLUEPRINT / "terraform.tfvars.example"

_INSTANCE = re.compile(r'^([a-z0-9_]+)\.([a-z0-9_]+)\["([A-Za-z0-9_-]+)"\]\.([a-z0-9_]+)$')
_TRY_NULL = re.compile(r"^try\((.+), null\)$")
_PART = re.compile(r"\$\{([^}]*)\}")
# tfparse's stand-in for an id only AWS gives (a subnet's, a role's ARN): not a value.
_PLACEHOLDER = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class Unknown(Exception):
    """A value Terraform knows only after apply, or a shape this evaluator does not read."""


def tfvars(path: Path = TFVARS_EXAMPLE) -> dict[str, Any]:
    """The inputs a tfvars file sets (python-hcl2): by default terraform.tfvars.example."""
    with path.open() as handle:
        document = hcl2.load(handle, serialization_options=rules._OPTIONS)
    return {name: _unquoted(value) for name, value in document.items()}


def _unquoted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key.strip('"'): _unquoted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unquoted(item) for item in value]
    return value


def terraform_outputs(variables: dict[str, Any], account_id: str) -> dict[str, dict[str, Any]]:
    """`terraform output -json` of the blueprint for these inputs, in account `account_id`."""
    return json.loads(_outputs(json.dumps(variables, sort_keys=True), account_id))


def rendered_blueprint(variables: dict[str, Any], account_id: str) -> Rendered:
    """The blueprint evaluated for these inputs in account `account_id` (locals, resources)."""
    return _render(json.dumps(variables, sort_keys=True), account_id)


@functools.cache
def _outputs(variables_json: str, account_id: str) -> str:
    rendered = _render(variables_json, account_id)
    blueprint = rules.load(rules.BLUEPRINT)
    evaluated = {
        block["__tfmeta"]["label"]: block.get("value") for block in rendered.blocks["output"]
    }
    document = {}
    for name, spec in blueprint.outputs.items():
        try:
            value = _output(rendered, blueprint, spec["value"], evaluated.get(name))
        except Unknown:
            continue
        document[name] = {"sensitive": bool(spec.get("sensitive")), "type": "", "value": value}
    return json.dumps(document)


@functools.cache
def _render(variables_json: str, account_id: str) -> Rendered:
    variables = json.loads(variables_json)
    with tempfile.TemporaryDirectory(prefix="blueprint-outputs-") as directory:
        for path in rules.BLUEPRINT.glob("*.tf"):
            text = path.read_text().replace(ACCOUNT_EXPRESSION, json.dumps(account_id))
            (Path(directory) / path.name).write_text(text)
        lines = [f"{name} = {json.dumps(value)}" for name, value in variables.items()]
        (Path(directory) / "inputs.tfvars").write_text("\n".join(lines) + "\n")
        return Rendered(tfparse.load_from_path(directory, vars_paths=["inputs.tfvars"]))


def _output(rendered: Rendered, blueprint: rules.Terraform, source: Any, evaluated: Any) -> Any:
    expression = _whole_expression(source)
    if expression is not None:
        attempted = _TRY_NULL.match(expression)
        if attempted:
            try:
                return _instance_attribute(rendered, blueprint, attempted.group(1))
            except KeyError:  # no such instance: try() gives null
                return None
        if _INSTANCE.match(expression):
            return _instance_attribute(rendered, blueprint, expression)
    if _resolved(evaluated):
        return evaluated
    raise Unknown(str(source))


def _whole_expression(source: Any) -> str | None:
    if isinstance(source, str) and source.startswith("${") and source.endswith("}"):
        inner = source[2:-1]
        return inner if "${" not in inner else None
    return None


def _resolved(value: Any) -> bool:
    if isinstance(value, dict):
        return "__attribute__" not in value and all(_resolved(item) for item in value.values())
    if isinstance(value, list):
        return all(_resolved(item) for item in value)
    return not (isinstance(value, str) and ("${" in value or _PLACEHOLDER.match(value)))


def _instance_attribute(rendered: Rendered, blueprint: rules.Terraform, reference: str) -> Any:
    """`TYPE.NAME["KEY"].ATTRIBUTE`: KeyError when the instance does not exist."""
    match = _INSTANCE.match(reference)
    if match is None:
        raise Unknown(reference)
    kind, name, key, attribute = match.groups()
    body = blueprint.resources[(kind, name)]
    collection = _local(rendered, body.get("for_each"))
    item = collection[key]  # KeyError: not created
    if attribute not in body:
        raise Unknown(reference)  # computed by AWS
    return _bind(rendered, body[attribute], key, item)


def _local(rendered: Rendered, expression: Any) -> Any:
    inner = _whole_expression(expression)
    if inner is None or not inner.startswith("local."):
        raise Unknown(str(expression))
    value = rendered.local(inner.removeprefix("local."))
    if not _resolved(value):
        raise Unknown(str(expression))
    return value


def _bind(rendered: Rendered, expression: Any, key: str, item: Any) -> Any:
    """An attribute's expression with each.key / each.value (and string locals) substituted."""

    def part(inner: str) -> Any:
        if inner == "each.key":
            return key
        if inner == "each.value":
            return item
        if inner.startswith("each.value."):
            return item[inner.removeprefix("each.value.")]
        if inner.startswith("local."):
            return _local(rendered, "${" + inner + "}")
        raise Unknown(inner)

    if not isinstance(expression, str):
        return expression
    whole = _whole_expression(expression)
    if whole is not None:
        return part(whole)
    return _PART.sub(lambda found: str(part(found.group(1))), expression)
