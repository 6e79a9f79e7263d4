"""Helpers for the deploy, migrate and verify tests against the sandbox."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipline import schemas
from shipline.cli import main
from shipline.sim.seed import SeededEnvironment


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def write_config(path: Path, environment: SeededEnvironment, **overrides: Any) -> Path:
    """shipline.yml for the seeded environment ("sim"), with keys of environments.sim replaced."""
    document = environment.shipline_config()
    sim = document["environments"]["sim"]
    for key, value in overrides.items():
        if value is None:
            sim.pop(key, None)
        else:
            sim[key] = copy.deepcopy(value)
    target = path / "shipline.yml"
    target.write_text(yaml.safe_dump(document), encoding="utf-8")
    return target


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Ran:
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return Ran(code, captured.out, captured.err)


def records(environment: SeededEnvironment, s3: Any) -> list[dict[str, Any]]:
    """Every release record of environment "sim", oldest first, each checked against the schema."""
    listed = s3.list_objects_v2(Bucket=environment.history_bucket, Prefix="releases/sim/")
    found = []
    for entry in sorted(listed.get("Contents", []), key=lambda item: item["Key"]):
        if entry["Key"].endswith("/lock.json"):
            continue
        body = s3.get_object(Bucket=environment.history_bucket, Key=entry["Key"])["Body"].read()
        document = json.loads(body)
        problems = schemas.problems("release-record", document)
        assert problems == [], f"{entry['Key']} does not fit the record schema: {problems}"
        found.append(document)
    return found


def lock_exists(environment: SeededEnvironment, s3: Any) -> bool:
    listed = s3.list_objects_v2(Bucket=environment.history_bucket, Prefix="releases/sim/lock.json")
    return bool(listed.get("Contents"))


def running_task_definitions(environment: SeededEnvironment, ecs: Any) -> dict[str, str]:
    """Service key -> the task definition each service runs (its primary deployment)."""
    names = list(environment.services.values())
    described = ecs.describe_services(cluster=environment.cluster, services=names)["services"]
    by_name = {s["serviceName"]: s["taskDefinition"] for s in described}
    return {key: by_name[name] for key, name in environment.services.items()}


def revision_count(environment: SeededEnvironment, ecs: Any) -> int:
    total = 0
    for family in set(environment.families.values()):
        total += len(ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"])
    return total


def image_of(ecs: Any, task_definition: str, container: str) -> str:
    described = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    return next(c["image"] for c in described["containerDefinitions"] if c["name"] == container)


def register_variant(ecs: Any, task_definition: str, change: Any) -> str:
    """Register a copy of `task_definition` after `change(first_container)`; the new ARN."""
    live = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    kept = ("family", "containerDefinitions", "cpu", "memory", "networkMode")
    kept += ("requiresCompatibilities", "executionRoleArn", "taskRoleArn")
    document = {key: value for key, value in live.items() if key in kept}
    change(document["containerDefinitions"][0])
    return str(ecs.register_task_definition(**document)["taskDefinition"]["taskDefinitionArn"])


def one_error_line(err: str) -> str:
    """The one line a refused command prints (`shipline: error: ...`), asserted to be alone."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("shipline: error: "), err
    return lines[0]


# A deploy's phases, in the order they run (docs/deploy.md; the record's `phases`).
DEPLOY_PHASES = [
    "preflight",
    "lock and record",
    "register task definitions",
    "migrate",
    "roll out",
    "verify",
]
