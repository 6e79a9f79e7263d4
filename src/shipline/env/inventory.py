"""The app's environment variables as data: `schemas/env-inventory.json`, loaded into records.

The inventory is the one list of variables. The checker (`rules`), the Terraform mapping
(`from_terraform`) and the docs tables (`docs`) all read it; none of them names a variable it
does not find here, except for the few rules that tie two variables together.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources.abc import Traversable
from typing import Any

from shipline import schemas
from shipline.errors import ConfigError

INVENTORY_PATH = schemas.SCHEMA_DIR / "env-inventory.json"
SCHEMA = "env-inventory"
PROFILES = ("api", "web", "worker")

# Variable name -> accepted values; every pair must hold.
Condition = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class Default:
    """A literal value, or the value of another variable (`from_variable`)."""

    value: str | None = None
    from_variable: str | None = None

    def describe(self) -> str:
        return f"value of {self.from_variable}" if self.from_variable else f"`{self.value}`"


@dataclass(frozen=True)
class Required:
    """When a variable must be set: in some profiles (None: all its own), and/or on a condition."""

    never: bool = False
    profiles: tuple[str, ...] | None = None
    when: Condition | None = None

    def describe(self) -> str:
        if self.never:
            return "optional"
        parts = []
        if self.profiles:
            parts.append(" and ".join(self.profiles))
        if self.when:
            parts.append("when " + describe_condition(self.when))
        return "yes" if not parts else "yes: " + ", ".join(parts)


@dataclass(frozen=True)
class ConditionalFormat:
    when: Condition
    format: str
    severity: str


@dataclass(frozen=True)
class PreferredInput:
    input: str
    when: Condition


@dataclass(frozen=True)
class Variable:
    name: str
    description: str
    profiles: tuple[str, ...]
    required: Required
    format: str
    default: Default | None = None
    values: tuple[str, ...] = ()
    open_enum: bool = False
    production_format: str | None = None
    format_when: ConditionalFormat | None = None
    from_secret: bool = False
    sensitive: bool = False
    terraform_input: str | None = None
    terraform_preferred_input: PreferredInput | None = None
    terraform_default: Default | None = None
    terraform_fallback_output: str | None = None
    # None: names no secret; () : always; else while the condition holds.
    names_secret: Condition | None = None
    password_when_terraform_output: str | None = None
    covers_hosts_of: tuple[str, ...] = ()

    def required_in(self, profile: str) -> bool:
        """Required in `profile`, before any condition is looked at."""
        if self.required.never or profile not in self.profiles:
            return False
        return self.required.profiles is None or profile in self.required.profiles

    @property
    def set_by_terraform(self) -> bool:
        # A default without an input is a value the blueprint always sets.
        return bool(
            self.terraform_input or self.terraform_fallback_output or self.terraform_default
        )

    @property
    def terraform_inputs(self) -> tuple[str, ...]:
        inputs = [self.terraform_input] if self.terraform_input else []
        if self.terraform_preferred_input:
            inputs.append(self.terraform_preferred_input.input)
        return tuple(inputs)


@dataclass(frozen=True)
class Inventory:
    profiles: Mapping[str, str]
    production_environment_names: tuple[str, ...]
    api_when_replicated: Mapping[str, str]
    worker_topology: Mapping[str, str]
    terraform_extra_outputs: Mapping[str, str]
    variables: tuple[Variable, ...]

    def get(self, name: str) -> Variable | None:
        return self._by_name().get(name)

    def for_profile(self, profile: str) -> tuple[Variable, ...]:
        return tuple(var for var in self.variables if profile in var.profiles)

    def terraform_output_names(self) -> tuple[str, ...]:
        """Every Terraform output `env from-terraform` reads, in inventory order."""
        names: list[str] = []
        for var in self.variables:
            names.extend(var.terraform_inputs)
        names.extend(self.terraform_extra_outputs)
        return tuple(dict.fromkeys(names))

    def variable_for_output(self, output: str) -> Variable | None:
        """The variable a Terraform output sets (`env from-terraform`), if any."""
        for var in self.variables:
            if output in (*var.terraform_inputs, var.terraform_fallback_output):
                return var
        return None

    def is_production(self, name: str | None) -> bool:
        wanted = {item.casefold() for item in self.production_environment_names}
        return name is not None and name.strip().casefold() in wanted

    def _by_name(self) -> dict[str, Variable]:
        return {var.name: var for var in self.variables}


def describe_condition(condition: Condition) -> str:
    return " and ".join(f"{name}={'|'.join(values)}" for name, values in condition.items())


def condition_holds(condition: Condition, value_of: Callable[[str], str | None]) -> bool:
    """Every variable of the condition has one of its accepted values (unknown values: no)."""
    for name, accepted in condition.items():
        value = value_of(name)
        if value is None or value.strip() not in accepted:
            return False
    return True


@cache
def load_inventory(path: Traversable = INVENTORY_PATH) -> Inventory:
    """The inventory, validated against its schema; a broken file is a ConfigError (exit 2)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot read the variable inventory: {exc}"]) from exc
    found = schemas.problems(SCHEMA, document)
    names = [entry.get("name") for entry in document.get("variables", [])]
    found.extend(
        f"variables: {name} is listed twice"
        for name in sorted({name for name in names if names.count(name) > 1})
    )
    if found:
        raise ConfigError(str(path), found)
    return _inventory(document)


def _inventory(document: dict[str, Any]) -> Inventory:
    topology = document["billing_topology"]
    return Inventory(
        profiles=dict(document["profiles"]),
        production_environment_names=tuple(document["production_environment_names"]),
        api_when_replicated=dict(topology["api_when_replicated"]),
        worker_topology=dict(topology["worker"]),
        terraform_extra_outputs=dict(document["terraform_extra_outputs"]),
        variables=tuple(_variable(entry) for entry in document["variables"]),
    )


def _variable(entry: dict[str, Any]) -> Variable:
    preferred = entry.get("terraform_preferred_input")
    format_when = entry.get("format_when")
    return Variable(
        name=entry["name"],
        description=entry["description"],
        profiles=tuple(entry["profiles"]),
        required=_required(entry["required"]),
        format=entry["format"],
        default=_default(entry.get("default")),
        values=tuple(entry.get("values", ())),
        open_enum=bool(entry.get("open_enum", False)),
        production_format=entry.get("production_format"),
        format_when=ConditionalFormat(
            when=_condition(format_when["when"]),
            format=format_when["format"],
            severity=format_when["severity"],
        )
        if format_when
        else None,
        from_secret=bool(entry.get("from_secret", False)),
        sensitive=bool(entry.get("sensitive", False)),
        terraform_input=entry.get("terraform_input"),
        terraform_preferred_input=PreferredInput(
            input=preferred["input"], when=_condition(preferred["when"])
        )
        if preferred
        else None,
        terraform_default=_default(entry.get("terraform_default")),
        terraform_fallback_output=entry.get("terraform_fallback_output"),
        names_secret=_condition(entry["names_secret"].get("when", {}))
        if "names_secret" in entry
        else None,
        password_when_terraform_output=entry.get("password_when_terraform_output"),
        covers_hosts_of=tuple(entry.get("covers_hosts_of", ())),
    )


def _required(raw: str | dict[str, Any]) -> Required:
    if raw == "always":
        return Required()
    if raw == "optional":
        return Required(never=True)
    assert isinstance(raw, dict)  # the schema allows nothing else
    profiles = raw.get("profiles")
    when = raw.get("when")
    return Required(
        profiles=tuple(profiles) if profiles else None,
        when=_condition(when) if when else None,
    )


def _condition(raw: dict[str, str | list[str]]) -> Condition:
    return {
        name: (value,) if isinstance(value, str) else tuple(value) for name, value in raw.items()
    }


def _default(raw: str | dict[str, str] | None) -> Default | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return Default(value=raw)
    return Default(from_variable=raw["from"])
