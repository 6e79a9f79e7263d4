"""The JSON Schemas in this package: loading them, and validation problems worded for people.

Every shape shipline reads or writes (shipline.yml, release records, the sandbox policy, the
variable inventory) is defined once here, beside the data files they describe; this module is how
code asks whether a document fits. A schema may word its own error with the annotation
`x-expected` ("a URL", "auto or off"), and keep a secret value out of it with `x-secret`.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
# The package's own files, read through importlib.resources: they ship inside the wheel.
SCHEMA_DIR: Traversable = resources.files(__name__)

_JSON_TYPES = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "true or false",
    int: "a number",
    float: "a number",
    type(None): "nothing (null)",
}


@cache
def load(name: str) -> dict[str, Any]:
    """The schema `<name>.schema.json` of this package."""
    with (SCHEMA_DIR / f"{name}.schema.json").open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


@cache
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator, validators

    # Each schema is checked against the meta-schema by the tests, not on every run.
    strict = validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator, {"pattern": _pattern_keyword}
    )
    return strict(load(name))


def _pattern_keyword(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """`pattern` as JSON Schema defines it (ECMA-262 regexes): `$` is the end of the text."""
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not _whole_text(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _whole_text(pattern: str) -> re.Pattern[str]:
    """Python's `$` also matches before a final "\\n" (so `^[a-z]+$` took "api\\n"): every
    `$` outside a character class becomes `\\Z`, the end of the text."""
    translated, escaped, in_class = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            char = r"\Z"
        translated.append(char)
    return re.compile("".join(translated))


def problems(name: str, document: Any) -> list[str]:
    """Every way `document` does not fit schema `name`, as `path: what was expected` lines."""
    found = []
    for error in _validator(name).iter_errors(document):
        found.extend(_describe(error))
    return sorted(set(found))


def path_text(parts: Any) -> str:
    """`environments.production.services.web`; odd keys quoted: `services["a b"]`, `[0]`."""
    text = ""
    for part in parts:
        if isinstance(part, str) and _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text or "(top level)"


def _describe(error: Any) -> list[str]:
    where = path_text(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    instance = error.instance
    kind = error.validator
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = sorted(schema.get("properties", {}))
        extras = [key for key in instance if key not in known]
        hint = f" (expected one of: {', '.join(known)})" if known else ""
        return [f"{path_text([*error.absolute_path, key])}: unknown key{hint}" for key in extras]
    if kind == "required" and isinstance(instance, dict):
        missing = [key for key in error.validator_value if key not in instance]
        return [f"{where}: missing required key '{key}'" for key in missing]
    expected = schema.get("x-expected")
    if "propertyNames" in error.schema_path:
        wanted = f": expected {expected}" if expected else ""
        return [f"{where}: key {_got(instance)} is not allowed{wanted}"]
    # `x-secret`: the value holds a token (a webhook URL): the problem never quotes it.
    got = "a value not shown (it is secret)" if schema.get("x-secret") else _got(instance)
    if kind == "type":
        return [f"{where}: expected {_type_words(error.validator_value)}, got {got}"]
    if expected:
        return [f"{where}: expected {expected}, got {got}"]
    if schema.get("x-secret"):
        return [f"{where}: {got}, does not fit"]
    if kind == "enum":
        choices = ", ".join(json.dumps(choice) for choice in error.validator_value)
        return [f"{where}: expected one of {choices}, got {_got(instance)}"]
    return [f"{where}: {error.message}"]


def _type_words(json_type: Any) -> str:
    names = {
        "object": "an object",
        "array": "a list",
        "string": "a string",
        "number": "a number",
        "integer": "a whole number",
        "boolean": "true or false",
        "null": "null",
    }
    if isinstance(json_type, list):
        return " or ".join(names.get(item, str(item)) for item in json_type)
    return names.get(json_type, str(json_type))


def _got(instance: Any) -> str:
    if isinstance(instance, str):
        shown = instance if len(instance) <= 60 else instance[:57] + "..."
        return json.dumps(shown)
    if isinstance(instance, bool | int | float) or instance is None:
        return json.dumps(instance)
    return _JSON_TYPES.get(type(instance), type(instance).__name__)
