"""The sandbox policy: how services converge or fail, how one-off tasks end, which faults to inject.

A policy file is JSON valid against `schemas/sim-policy.schema.json`. Rules are looked up by
ECS service name (services) or task-definition family (tasks); a specific key's fields override
the "*" entry field by field. `PolicyFile` re-reads the file when it changes and keeps the last
good policy when the new content is invalid.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipline import schemas
from shipline.errors import UsageError
from shipline.inputs import json_document
from shipline.sim import faults as fault_rules
from shipline.sim.faults import FaultRules

SCHEMA_NAME = "sim-policy"  # schemas/sim-policy.schema.json
WILDCARD = "*"

# A rule that is always, never, or when an image contains a text.
Match = bool | str


class PolicyError(UsageError):
    """The policy file is missing, unreadable or invalid (one line, exit 2)."""


@dataclass(frozen=True)
class ServiceRules:
    converge_seconds: float = 1.0
    fail: Match = False
    unhealthy: Match = False
    stale_reads: int = 0


@dataclass(frozen=True)
class TaskRules:
    exit_code: int = 0
    run_seconds: float = 0.5
    logs: tuple[str, ...] = ()
    reason: str | None = None


@dataclass(frozen=True)
class Policy:
    """Raw rule entries per key, as written in the file; merged on look-up."""

    services: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    tasks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    faults: FaultRules = field(default_factory=FaultRules)

    def for_service(self, service_name: str) -> ServiceRules:
        return ServiceRules(**merged_entry(self.services, service_name))

    def for_task(self, family: str) -> TaskRules:
        entry = merged_entry(self.tasks, family)
        if "logs" in entry:
            entry["logs"] = tuple(entry["logs"])
        return TaskRules(**entry)


def merged_entry(section: Mapping[str, Mapping[str, Any]], key: str) -> dict[str, Any]:
    """The "*" entry overlaid with the entry for `key`, field by field."""
    merged = dict(section.get(WILDCARD, {}))
    if key != WILDCARD:
        merged.update(section.get(key, {}))
    return merged


def matches(rule: Match, images: Iterable[str]) -> bool:
    """True for `true`, False for `false`, else whether any image contains the text."""
    if isinstance(rule, bool):
        return rule
    return any(rule in image for image in images)


def parse_policy(document: Any, source: str) -> Policy:
    """Validate a decoded policy document; every problem in one line."""
    found = schemas.problems(SCHEMA_NAME, document)
    if not found:
        found = fault_rules.problems(document.get("faults", {}))
    if found:
        raise PolicyError(f"{source}: invalid sim policy: " + "; ".join(found))
    return Policy(
        services=document.get("services", {}),
        tasks=document.get("tasks", {}),
        faults=FaultRules.from_document(document.get("faults")),
    )


def load_policy(path: Path) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read sim policy: {exc.strerror or exc}") from None
    document = json_document(text, str(path), "a sim policy", PolicyError)
    return parse_policy(document, str(path))


def write_policy(path: Path, document: Any) -> None:
    """Replace a policy file in one step (a new inode, so a running sandbox sees the change)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=2), encoding="utf-8")
    temporary.replace(path)


FileIdentity = tuple[int, int, int]


def file_identity(path: Path) -> FileIdentity | None:
    """What changes when the file is rewritten: mtime, size and inode (a cheap stat)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


class PolicyFile:
    """The current policy of a file that may change while the sandbox runs.

    Not thread-safe by itself: the sandbox calls it under its request lock.
    """

    def __init__(self, path: Path | None, log: Callable[[str], None]) -> None:
        self.path = path
        self._log = log
        self._identity: FileIdentity | None = None
        self._policy = Policy()
        if path is not None:
            self._identity = file_identity(path)
            self._policy = load_policy(path)

    def current(self) -> Policy:
        """The policy, re-read first when the file changed since the last look."""
        if self.path is None:
            return self._policy
        identity = file_identity(self.path)
        if identity == self._identity:
            return self._policy
        self._identity = identity
        try:
            self._policy = load_policy(self.path)
        except PolicyError as exc:
            self._log(f"sim: keeping the last good policy: {exc.message}")
        return self._policy
