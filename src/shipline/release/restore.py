"""Putting ECS services back on recorded task definitions (the AWS half of a manual rollback).

A service can only be moved to an ACTIVE task definition. A recorded revision deregistered
since (INACTIVE) is registered again as a copy of what DescribeTaskDefinition still returns;
one deleted since is registered again from the content the record kept. Which of these
applies is decided by the pure `records.restore_source`.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from shipline.aws import DESCRIBE_BATCH
from shipline.release.records import ServiceState, restore_source


@dataclass(frozen=True)
class Restore:
    """How one service gets back to its recorded task definition."""

    key: str
    recorded: str  # the task definition the record names
    source: str  # use | copy | content | redacted | missing (see records.restore_source)
    # RegisterTaskDefinition form of the recorded task definition, when known.
    content: dict[str, Any] | None


def describe_task_definition(ecs: Any, arn: str) -> dict[str, Any] | None:
    """DescribeTaskDefinition's whole answer (with tags), or None when the revision is gone."""
    from botocore.exceptions import ClientError

    try:
        described: dict[str, Any] = ecs.describe_task_definition(
            taskDefinition=arn, include=["TAGS"]
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {
            "ClientException",
            "InvalidParameterException",
        }:
            return None
        raise
    return described


def registrable(described: Mapping[str, Any]) -> dict[str, Any]:
    """The RegisterTaskDefinition request that registers `described` again, unchanged."""
    from shipline.release.plan import render_task_definition

    definition = described["taskDefinition"]
    first = definition["containerDefinitions"][0]
    return render_task_definition(described, first["name"], first.get("image", ""))


def plan_restore(ecs: Any, wanted: Mapping[str, ServiceState]) -> dict[str, Restore]:
    """For every service, how to get it back onto `wanted[key].task_definition` (reads only)."""

    def one(item: tuple[str, ServiceState]) -> Restore:
        key, state = item
        described = describe_task_definition(ecs, state.task_definition)
        status = (described or {}).get("taskDefinition", {}).get("status")
        source = restore_source(status, state.content, state.redacted)
        content = registrable(described) if described else state.content
        return Restore(key=key, recorded=state.task_definition, source=source, content=content)

    items = list(wanted.items())
    if not items:
        return {}
    with ThreadPoolExecutor(max_workers=min(DESCRIBE_BATCH, len(items))) as pool:
        return {restore.key: restore for restore in pool.map(one, items)}


def register(ecs: Any, content: Mapping[str, Any]) -> str:
    """Register `content` as a new revision of its family; its ARN."""
    answer = ecs.register_task_definition(**content)
    arn: str = answer["taskDefinition"]["taskDefinitionArn"]
    return arn
