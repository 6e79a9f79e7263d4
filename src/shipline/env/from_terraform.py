"""Terraform outputs -> the app's environment variables, per the inventory's mapping (pure).

The blueprint outputs every input that sets a variable under the input's own name, plus
`api_url` and `web_url`. An empty or null output counts as not set, so the optional inputs
(`app_public_url`, `api_base_url`) fall back to the derived URLs, and the inventory's
Terraform defaults fill the rest (`auth_key_storage_provider` defaults to the secrets provider).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shipline import github
from shipline.env.inventory import Default, Inventory, Variable, condition_holds, load_inventory
from shipline.env.rules import host_allowed, parse_list, url_host
from shipline.errors import UsageError
from shipline.inputs import json_document

_URL_FORMATS = {"url", "https_url"}
_SAFE_BARE = re.compile(r"[A-Za-z0-9_./:@%+,=-]*")  # fullmatch: a final "\n" is not safe


@dataclass(frozen=True)
class TerraformOutput:
    name: str
    value: str | None  # None: null, or a list/object (`structured`)
    sensitive: bool
    structured: bool = False  # a list or an object: no variable can take it


@dataclass(frozen=True)
class MappedVariable:
    name: str
    value: str
    sensitive: bool
    source: str  # "output NAME" or "default"


def parse_terraform_outputs(text: str, source: str = "outputs") -> dict[str, TerraformOutput]:
    """`terraform output -json` text -> outputs by name; UsageError (one line) when malformed."""
    if not text.strip():
        raise UsageError(f"{source}: empty; expected `terraform output -json`")
    document = json_document(text, source, "`terraform output -json`")
    if not isinstance(document, dict):
        raise UsageError(f"{source}: expected a JSON object of outputs (`terraform output -json`)")
    outputs = {}
    for name, entry in document.items():
        if not isinstance(entry, dict) or "value" not in entry:
            raise UsageError(
                f"{source}: output {name!r} has no `value`; expected `terraform output -json`"
            )
        value = entry["value"]
        outputs[name] = TerraformOutput(
            name=name,
            value=_text(value),
            sensitive=bool(entry.get("sensitive", False)),
            structured=isinstance(value, list | dict),
        )
    return outputs


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    return None  # null, or a list/object (the blueprint outputs subnets, ...: not variables)


def env_from_terraform(
    outputs: Mapping[str, TerraformOutput],
    inventory: Inventory | None = None,
    source: str = "outputs",
) -> list[MappedVariable]:
    """Every variable Terraform sets, in inventory order; unset ones are left out. Outputs
    that set no variable at all (`{}` before the first apply) are a UsageError."""
    inventory = inventory or load_inventory()
    resolved: dict[str, MappedVariable | None] = {}

    def output(name: str) -> TerraformOutput | None:
        found = outputs.get(name)
        return found if found is not None and found.value not in {None, ""} else None

    def resolve(var: Variable) -> MappedVariable | None:
        if var.name not in resolved:
            resolved[var.name] = None  # a default that points back here resolves to nothing
            resolved[var.name] = _resolve(var, output, lookup)
        return resolved[var.name]

    def lookup(name: str) -> MappedVariable | None:
        var = inventory.get(name)
        return resolve(var) if var is not None and var.set_by_terraform else None

    for name in inventory.terraform_output_names():
        read = outputs.get(name)
        if read is not None and read.structured:
            raise UsageError(
                f"{source}: output {name!r} is a list or an object; a variable needs a single value"
            )
    for var in inventory.variables:
        derived = output(var.terraform_fallback_output or "")
        if derived and var.format in _URL_FORMATS and "://" not in (derived.value or ""):
            raise UsageError(
                f"output {derived.name!r} must be a URL with its scheme, such as "
                "https://app.example.com"
            )
    mapped = [resolve(var) for var in inventory.variables if var.set_by_terraform]
    found = [item for item in mapped if item is not None]
    if not any(item.source.startswith("output ") for item in found):
        # `terraform output -json` prints {} before the first apply (or for another directory).
        wanted = ", ".join(inventory.terraform_output_names()[:3])
        raise UsageError(
            f"{source}: no output sets an app variable (expected {wanted}, ...); run "
            "`terraform output -json` in the blueprint's directory after `terraform apply`"
        )
    return _with_covered_hosts(found, inventory)


def _with_covered_hosts(found: list[MappedVariable], inventory: Inventory) -> list[MappedVariable]:
    """A host list (ALLOWED_HOSTS) gets the hosts of the URLs it must cover that it lacks, as
    the blueprint derives it; the checker refuses one that misses them."""
    by_name = {item.name: item for item in found}
    for var in inventory.variables:
        if not var.covers_hosts_of:
            continue
        present = by_name.get(var.name)
        hosts = parse_list(present.value) if present else []
        added = []
        for url_name in var.covers_hosts_of:
            url = by_name.get(url_name)
            host = url_host(url.value) if url else None
            if host and not host_allowed(host, hosts):
                hosts.append(host)
                added.append(url_name)
        if added:
            source = (present.source + " + " if present else "") + "hosts of " + ", ".join(added)
            sensitive = bool(present and present.sensitive)
            by_name[var.name] = MappedVariable(var.name, ",".join(hosts), sensitive, source)
    order = [var.name for var in inventory.variables]
    return sorted(by_name.values(), key=lambda item: order.index(item.name))


def _resolve(
    var: Variable,
    output: Callable[[str], TerraformOutput | None],
    lookup: Callable[[str], MappedVariable | None],
) -> MappedVariable | None:
    inputs = list(var.terraform_inputs)
    preferred = var.terraform_preferred_input
    if preferred and condition_holds(preferred.when, lambda name: _value(lookup(name))):
        inputs.remove(preferred.input)
        inputs.insert(0, preferred.input)
    if var.terraform_fallback_output:
        inputs.append(var.terraform_fallback_output)
    for name in inputs:
        found = output(name)
        if found is not None and found.value is not None:
            return MappedVariable(var.name, found.value, found.sensitive, f"output {name}")
    return _from_default(var, var.terraform_default, lookup)


def _from_default(
    var: Variable, default: Default | None, lookup: Callable[[str], MappedVariable | None]
) -> MappedVariable | None:
    if default is None:
        return None
    if default.from_variable:
        source = lookup(default.from_variable)
        if source is None:
            return None
        return MappedVariable(var.name, source.value, source.sensitive, f"from {source.name}")
    assert default.value is not None
    return MappedVariable(var.name, default.value, False, "default")


def _value(mapped: MappedVariable | None) -> str | None:
    return mapped.value if mapped else None


# --- output formats ----------------------------------------------------------------------------


def render_dotenv(mapped: list[MappedVariable]) -> str:
    """KEY=value lines that `shipline env check --env-file` (and docker/compose) read back."""
    return "".join(f"{item.name}={_dotenv_quote(item.value)}\n" for item in mapped)


def _dotenv_quote(value: str) -> str:
    if _SAFE_BARE.fullmatch(value):
        return value
    if "'" not in value and "\n" not in value:
        return f"'{value}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def render_github_env(mapped: list[MappedVariable]) -> str:
    """The `$GITHUB_ENV` text: NAME<<DELIMITER / value / DELIMITER, safe for any value."""
    return "".join(github.output_block(item.name, item.value) for item in mapped)
