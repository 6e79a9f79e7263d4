"""The pinned AWS provider's schema, offline, and a check of Terraform blocks against it.

`terraform validate` needs the provider binary, which cannot be downloaded here. The PyPI wheel
cdktf-cdktf-provider-aws is generated from the provider's schema and ships it as a jsii assembly
(a 120 MB JSON): each resource or data source is a class whose docs name its Terraform type,
and whose <Class>Config interface lists every argument and nested block, with `optional` unset
when Terraform requires it. `build` derives a compact index from it once (under .venv, never in
the repository); `problems` walks python-hcl2 blocks against the index.

    python tests/support/infra/provider_schema.py build WHEEL INDEX
"""

from __future__ import annotations

import io
import json
import re
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

# Keep these three in step with versions.tf (aws "~> 5.100") and the Makefile.
CDKTF_PACKAGE_VERSION = "20.1.0"
PROVIDER_VERSION = "5.100.0"
REPO = Path(__file__).resolve().parents[3]
INDEX = REPO / ".venv" / "provider-schema" / f"aws-{PROVIDER_VERSION}.json"

_TYPE_LINK = re.compile(r"/docs/(resources|data-sources)/([a-z0-9_]+) (aws_[a-z0-9_]+)\}")
_ARGUMENT_LINK = re.compile(r"#([a-z0-9_]+) [A-Za-z0-9]+#([a-z0-9_]+)\}")
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")

# Terraform's own arguments, valid in every resource / data block (not in the provider schema).
META_ARGUMENTS = {"count", "for_each", "depends_on", "lifecycle", "provider"}
RESOURCE_ONLY_META = {"provisioner", "connection"}

Schema = dict[str, Any]  # {"arguments": [...], "required": [...], "blocks": {name: Schema}}


# ---------------------------------------------------------------------------------------------
# Building the index from the jsii assembly
# ---------------------------------------------------------------------------------------------


def read_assembly(wheel: Path) -> dict[str, Any]:
    """The `package/.jsii` JSON inside the wheel's jsii tarball."""
    with zipfile.ZipFile(wheel) as archive:
        (member,) = [name for name in archive.namelist() if name.endswith(".jsii.tgz")]
        with tarfile.open(fileobj=io.BytesIO(archive.read(member))) as tarball:
            handle = tarball.extractfile("package/.jsii")
            assert handle is not None
            return json.load(handle)


def _terraform_name(prop: dict[str, Any]) -> str:
    docs = prop.get("docs", {})
    match = _ARGUMENT_LINK.search(f"{docs.get('summary', '')} {docs.get('remarks', '')}")
    return match.group(1) if match else _CAMEL.sub("_", prop["name"]).lower()


def _struct_of(type_ref: dict[str, Any], types: dict[str, Any]) -> str | None:
    """The fqn of the provider struct a property holds (directly or as a list), if any."""
    candidates = [type_ref, *type_ref.get("union", {}).get("types", [])]
    for candidate in candidates:
        element = candidate.get("collection", {}).get("elementtype", candidate)
        fqn = element.get("fqn", "")
        if fqn in types and types[fqn].get("datatype"):
            return fqn
    return None


def _schema_of(fqn: str, types: dict[str, Any], depth: int = 0) -> Schema:
    arguments, required, blocks = [], [], {}
    for prop in types[fqn].get("properties", []):
        name = _terraform_name(prop)
        nested = _struct_of(prop["type"], types)
        if nested is not None and depth < 12:
            blocks[name] = _schema_of(nested, types, depth + 1)
        else:
            arguments.append(name)
        if not prop.get("optional"):
            required.append(name)
    return {"arguments": sorted(arguments), "required": sorted(required), "blocks": blocks}


def build_index(assembly: dict[str, Any]) -> dict[str, Any]:
    types = assembly["types"]
    index: dict[str, Any] = {"provider_version": PROVIDER_VERSION, "resource": {}, "data": {}}
    for definition in types.values():
        if definition.get("kind") != "class":
            continue
        match = _TYPE_LINK.search(definition.get("docs", {}).get("summary", ""))
        parameters = definition.get("initializer", {}).get("parameters", [])
        config = [p["type"].get("fqn") for p in parameters if p["name"] == "config"]
        if match is None or not config or config[0] not in types:
            continue
        kind = "resource" if match.group(1) == "resources" else "data"
        index[kind][match.group(3)] = _schema_of(config[0], types)
    return index


def load_index(path: Path = INDEX) -> dict[str, Any]:
    return json.loads(path.read_text())


# ---------------------------------------------------------------------------------------------
# Checking python-hcl2 blocks
# ---------------------------------------------------------------------------------------------


def _bodies(value: Any) -> list[dict[str, Any]]:
    """A nested block reads as a list of dicts (one per use), an object attribute as a dict."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []  # an expression (${...}): nothing to walk


def _dynamic_blocks(body: dict[str, Any], where: str) -> tuple[dict[str, list], list[str]]:
    """`dynamic "name" { for_each, iterator, content {...} }`: the content bodies by block name."""
    found: dict[str, list] = {}
    problems = []
    for dynamic in _bodies(body.get("dynamic")):
        for name, spec in dynamic.items():
            for declared in _bodies(spec):
                unknown = set(declared) - {"for_each", "iterator", "labels", "content"}
                if unknown:
                    problems.append(f"{where}: dynamic {name}: unknown {sorted(unknown)}")
                if "for_each" not in declared or "content" not in declared:
                    problems.append(f"{where}: dynamic {name} needs for_each and content")
                found.setdefault(name, []).extend(_bodies(declared.get("content")))
    return found, problems


def body_problems(body: dict[str, Any], schema: Schema, where: str, top: bool = False) -> list[str]:
    problems: list[str] = []
    dynamic, dynamic_problems = _dynamic_blocks(body, where)
    problems += dynamic_problems
    allowed = set(schema["arguments"]) | set(schema["blocks"])
    for key, value in body.items():
        if key == "dynamic" or (top and key in META_ARGUMENTS | RESOURCE_ONLY_META):
            continue
        if key not in allowed:
            problems.append(f"{where}: unknown argument or block `{key}`")
        elif key in schema["blocks"]:
            for inner in _bodies(value):
                problems += body_problems(inner, schema["blocks"][key], f"{where}.{key}")
    for name, contents in dynamic.items():
        if name not in schema["blocks"]:
            problems.append(f"{where}: unknown block `{name}` (dynamic)")
            continue
        for inner in contents:
            problems += body_problems(inner, schema["blocks"][name], f"{where}.{name}")
    missing = [name for name in schema["required"] if name not in body and name not in dynamic]
    problems += [f"{where}: required `{name}` is missing" for name in missing]
    return problems


def problems(
    index: dict[str, Any],
    resources: dict[tuple[str, str], dict[str, Any]],
    data: dict[tuple[str, str], dict[str, Any]],
) -> list[str]:
    """Every argument and block of every resource and data source against the provider schema."""
    found: list[str] = []
    for kind, blocks, prefix in (("resource", resources, ""), ("data", data, "data.")):
        for (block_type, name), body in blocks.items():
            where = f"{prefix}{block_type}.{name}"
            if not block_type.startswith("aws_"):
                continue  # other providers (random) are not in this schema
            schema = index[kind].get(block_type)
            if schema is None:
                found.append(f"{where}: no {kind} type {block_type} in aws {PROVIDER_VERSION}")
                continue
            found += body_problems(body, schema, where, top=True)
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[1] != "build":
        print("usage: provider_schema.py build WHEEL INDEX", file=sys.stderr)
        return 2
    index = build_index(read_assembly(Path(argv[2])))
    target = Path(argv[3])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(index, sort_keys=True))
    print(f"{target}: {len(index['resource'])} resources, {len(index['data'])} data sources")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
