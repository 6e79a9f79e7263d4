"""Stale DescribeServices answers after an UpdateService (policy `stale_reads`).

AWS documents the Amazon ECS API as eventually consistent: a change made by one call need not
show in the calls that follow at once (ECS API Reference, RunTask). For a release this means a
DescribeServices right after UpdateService may still show the service as it was before, without
the new deployment. The sandbox answers so for the next `stale_reads` DescribeServices calls that
name the service; UpdateService's own answer is always current, as ECS's is.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

LaggingKey = tuple[str, str, str, str]  # account, region, cluster, service


@dataclass
class _Lagging:
    before: Any  # a copy of moto's Service as it was before the update
    answers_left: int


def _key(service: Any) -> LaggingKey:
    return (service._account_id, service.region_name, service.cluster_name, service.name)


def frozen_copy(service: Any) -> Any:
    """A copy of moto's Service that later changes to the service do not reach.

    Made without moto's constructor hook, so the copy is not listed as a service of its own."""
    before = object.__new__(type(service))
    before.__dict__.update(service.__dict__)
    before.deployments = copy.deepcopy(service.deployments)
    before.events = copy.deepcopy(service.events)
    return before


class StaleReads:
    """Services whose DescribeServices answers still lag behind their last UpdateService."""

    def __init__(self) -> None:
        self._lagging: dict[LaggingKey, _Lagging] = {}

    def reset(self) -> None:
        self._lagging.clear()

    def updated(self, before: Any | None, answers: int) -> None:
        """UpdateService changed the service that was `before`: the next `answers` reads lag."""
        if before is None:
            return
        if answers > 0:
            self._lagging[_key(before)] = _Lagging(before, answers)
        else:
            self._lagging.pop(_key(before), None)

    def answer(self, services: list[Any]) -> list[Any]:
        """DescribeServices' services, each lagging one as it was before its update."""
        answered: list[Any] = []
        counted: set[LaggingKey] = set()
        for service in services:
            key = _key(service)
            lagging = self._lagging.get(key)
            if lagging is None:
                answered.append(service)
                continue
            answered.append(lagging.before)
            if key not in counted:  # one call, one stale answer, however often it names it
                counted.add(key)
                lagging.answers_left -= 1
        for key in counted:
            if self._lagging[key].answers_left <= 0:
                del self._lagging[key]
        return answered
