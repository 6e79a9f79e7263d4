"""Terraform outputs -> an environment of shipline.yml, per schemas/shipline-from-terraform.json.

The blueprint names what a release moves (cluster, services, the history bucket) in its outputs;
what it fixes in its .tf files (each service's container and image, the readiness paths, the
migration command) is data in the mapping file. Health URLs reuse `env from-terraform`'s
mapping of the URL variables, so the two commands never disagree about a URL. Pure: the outputs
in, a shipline.yml document and notes out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from shipline import schemas
from shipline.env.from_terraform import TerraformOutput, env_from_terraform
from shipline.errors import UsageError

MAPPING_PATH = schemas.SCHEMA_DIR / "shipline-from-terraform.json"


@dataclass(frozen=True)
class GeneratedConfig:
    """A shipline.yml document with one environment, and what was left out of it and why."""

    environment: str
    document: dict[str, Any]
    notes: list[str] = field(default_factory=list)


@cache
def load_mapping() -> dict[str, Any]:
    with MAPPING_PATH.open(encoding="utf-8") as handle:
        return dict(json.load(handle))


def config_from_terraform(
    outputs: Mapping[str, TerraformOutput],
    environment: str,
    mapping: Mapping[str, Any] | None = None,
) -> GeneratedConfig:
    """The environment `environment` of shipline.yml for the infrastructure behind `outputs`.

    UsageError (one line) when an output the environment needs is missing, or sensitive (a
    shipline.yml holds no secrets), or when the result is not a valid shipline.yml.
    """
    mapping = mapping or load_mapping()
    notes: list[str] = []

    def value(name: str, *, required: bool) -> str | None:
        found = outputs.get(name)
        if found is None or found.value in (None, ""):
            if required:
                raise UsageError(
                    f"outputs: no value for `{name}`; expected `terraform output -json` of the "
                    "blueprint in ops/infra/aws"
                )
            return None
        if found.sensitive:
            raise UsageError(f"outputs: `{name}` is sensitive; shipline.yml holds no secrets")
        return found.value

    variables = {item.name: item for item in env_from_terraform(outputs)}
    services: dict[str, Any] = {}
    for key, spec in mapping["services"].items():
        name = value(spec["service_output"], required=False)
        if name is None:
            notes.append(f"{key}: left out (output {spec['service_output']} is null: not created)")
            continue
        entry: dict[str, Any] = {"service": name, "container": spec["container"]}
        entry["image"] = spec["image"]
        if "health" in spec:
            url = variables.get(spec["health"]["variable"])
            if url is None:
                notes.append(f"{key}: no health URL ({spec['health']['variable']} is not set)")
            elif url.sensitive:
                raise UsageError(
                    f"outputs: {url.name} comes from a sensitive output; shipline.yml holds no "
                    "secrets"
                )
            else:
                entry["health"] = url.value.rstrip("/") + spec["health"]["path"]
        if "profile" in spec:
            entry["profile"] = spec["profile"]
        services[key] = entry
    if not services:
        raise UsageError("outputs: no ECS service is named in them; nothing for a release to move")

    settings: dict[str, Any] = {}
    region = value(mapping["region_output"], required=False)
    if region is not None:
        settings["region"] = region
    settings["cluster"] = value(mapping["cluster_output"], required=True)
    bucket = value(mapping["history"]["bucket_output"], required=True)
    settings["history"] = f"s3://{bucket}/{mapping['history']['prefix']}"
    settings["services"] = services
    migrate = mapping["migrate"]
    if migrate["service"] in services:
        settings["migrate"] = {"service": migrate["service"], "command": list(migrate["command"])}
    else:
        notes.append(f"migrate: left out (its service {migrate['service']} is not created)")

    document = {"version": 1, "environments": {environment: settings}}
    problems = schemas.problems("shipline", document)
    if problems:
        raise UsageError(f"the outputs make no valid shipline.yml: {problems[0]}")
    return GeneratedConfig(environment, document, notes)


def render_yaml(generated: GeneratedConfig, source: str) -> str:
    """The document as shipline.yml text, saying where it came from."""
    import yaml

    shown = " ".join(source.split())  # a comment line, whatever the file's name
    header = (
        f"# Written by `shipline config from-terraform` from {shown}: the names Terraform\n"
        "# gave the environment. Add `images:` and any `wait`, `health`, `rollback` settings.\n"
    )
    body = yaml.safe_dump(generated.document, sort_keys=False, default_flow_style=False)
    return header + body
