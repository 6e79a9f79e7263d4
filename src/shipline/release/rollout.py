"""Roll ECS services: update all of them at once, then wait on all of them together.

Waiting costs one DescribeServices call per poll for every ten services still pending (the
API's limit per call), so API calls grow with polls x ceil(services / 10), never with
polls x services. Whether a service's rollout succeeded is decided by the pure `classify`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from shipline.aws import DESCRIBE_BATCH, short_name
from shipline.release import ecs_events
from shipline.release.heartbeat import HEARTBEAT_SECONDS, Heartbeat, heartbeat_line, rollout_where
from shipline.release.stopping import StopSignal

# Where one service's rollout stands (printed in every progress line).
RolloutState = Literal["waiting", "succeeded", "failed"]
WAITING: Final = "waiting"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"


@dataclass(frozen=True)
class Target:
    """Service `key` (ECS name `service`) should end up running `task_definition` (with
    `desired_count` tasks, when the release changes the count)."""

    key: str
    service: str
    task_definition: str
    desired_count: int | None = None


@dataclass(frozen=True)
class Outcome:
    state: RolloutState
    detail: str
    running: int | None = None
    desired: int | None = None
    task_definition: str | None = None  # what the service's primary deployment runs
    deployment: str | None = None  # that deployment's rolloutState (IN_PROGRESS, COMPLETED...)

    @property
    def done(self) -> bool:
        return self.state != WAITING

    @property
    def succeeded(self) -> bool:
        return self.state == SUCCEEDED


def classify(
    description: Mapping[str, Any],
    expected_task_definition: str,
    started_at: datetime | None = None,
) -> Outcome:
    """Where one service's rollout to `expected_task_definition` stands (DescribeServices item).

    Succeeded: the deployment of that task definition is the primary one, COMPLETED, with as
    many tasks running as desired. Failed: the service is not ACTIVE, that deployment FAILED,
    or the service went back to another task definition (the circuit breaker's rollback).
    `started_at` is when UpdateService created the new deployment: a primary deployment older
    than that is a stale answer (ECS reads are eventually consistent), not a rollback.
    """
    status = description.get("status")
    if status != "ACTIVE":
        return Outcome(FAILED, f"the service is {status}, not ACTIVE")
    deployments = list(description.get("deployments") or [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    primary_td = (primary or {}).get("taskDefinition") or description.get("taskDefinition")
    if primary_td == expected_task_definition:
        target = primary
    else:
        target = next(
            (d for d in deployments if d.get("taskDefinition") == expected_task_definition), None
        )
    if target is not None and target.get("rolloutState") == "FAILED":
        reason = target.get("rolloutStateReason") or "no reason given"
        failed_tasks = target.get("failedTasks") or 0
        went_back = ""
        if primary_td and primary_td != expected_task_definition:
            went_back = f"; the service went back to {short_name(primary_td)}"
        return Outcome(
            FAILED,
            f"rollout FAILED ({failed_tasks} failed tasks): {reason}{went_back}",
            target.get("runningCount"),
            target.get("desiredCount"),
            primary_td,
            "FAILED",
        )
    if primary_td != expected_task_definition:
        primary_created = (primary or {}).get("createdAt")
        if started_at is not None and primary_created is not None and primary_created < started_at:
            return Outcome(
                WAITING,
                "ECS does not list the new deployment yet",
                (primary or {}).get("runningCount"),
                (primary or {}).get("desiredCount"),
                primary_td,
                "not listed yet",
            )
        return Outcome(
            FAILED,
            f"the service runs {short_name(primary_td)}, not {short_name(expected_task_definition)}"
            " (rolled back by the circuit breaker or replaced by another deployment)",
            (primary or {}).get("runningCount"),
            (primary or {}).get("desiredCount"),
            primary_td,
            (primary or {}).get("rolloutState"),
        )
    deployment = primary or {}
    running = deployment.get("runningCount", description.get("runningCount"))
    desired = deployment.get("desiredCount", description.get("desiredCount"))
    rollout_state = deployment.get("rolloutState")
    # Without a rolloutState (an old deployment controller), one deployment left means done.
    completed = rollout_state == "COMPLETED" or (rollout_state is None and len(deployments) <= 1)
    counts = f"{running}/{desired} running"
    if completed and running == desired:
        return Outcome(SUCCEEDED, f"COMPLETED, {counts}", running, desired, primary_td, "COMPLETED")
    pending = deployment.get("pendingCount") or 0
    failed_tasks = deployment.get("failedTasks") or 0
    extra = (f", {pending} pending" if pending else "") + (
        f", {failed_tasks} failed tasks" if failed_tasks else ""
    )
    state = rollout_state or "IN_PROGRESS"
    return Outcome(WAITING, f"{state}, {counts}{extra}", running, desired, primary_td, state)


def update_services(
    ecs: Any, cluster: str, targets: Iterable[Target], watch: Watch | None = None
) -> dict[str, str | None]:
    """UpdateService for every target at once; key -> None when updated, else the error text.

    `watch` learns when each new deployment was created (see `classify`'s `started_at`).
    """
    targets = list(targets)

    def update(target: Target) -> str | None:
        arguments: dict[str, Any] = {
            "cluster": cluster,
            "service": target.service,
            "taskDefinition": target.task_definition,
        }
        if target.desired_count is not None:
            arguments["desiredCount"] = target.desired_count
        try:
            answer = ecs.update_service(**arguments)
        except Exception as exc:  # reported per service; the caller rolls back the others
            return f"{type(exc).__name__}: {exc}"
        deployments = (answer.get("service") or {}).get("deployments") or []
        primary: Mapping[str, Any] = next(
            (d for d in deployments if d.get("status") == "PRIMARY"), {}
        )
        if watch is not None and primary.get("createdAt") is not None:
            watch.started_at[target.key] = primary["createdAt"]
        return None

    if not targets:
        return {}
    with ThreadPoolExecutor(max_workers=min(DESCRIBE_BATCH, len(targets))) as pool:
        return dict(zip((t.key for t in targets), pool.map(update, targets), strict=True))


@dataclass
class Watch:
    """What has been reported already, so each state change and each event prints once."""

    seen_events: dict[str, set[str]] = field(default_factory=dict)
    last_state: dict[str, str] = field(default_factory=dict)
    started_at: dict[str, datetime] = field(default_factory=dict)  # key -> new deployment
    settled_at: dict[str, float] = field(default_factory=dict)  # key -> time.monotonic()
    polls: int = 0  # rounds of DescribeServices calls
    describe_calls: int = 0

    def remember_events(self, descriptions: Iterable[Mapping[str, Any]]) -> None:
        """Events that exist before the release are not news."""
        for description in descriptions:
            ids = self.seen_events.setdefault(description.get("serviceName", ""), set())
            ids.update(str(event.get("id")) for event in description.get("events") or [])


def wait_for_services(
    ecs: Any,
    cluster: str,
    targets: Iterable[Target],
    *,
    poll: float,
    timeout: float,
    stop: StopSignal | None = None,
    report: Callable[[str], None] = lambda line: None,
    watch: Watch | None = None,
    fail_fast: bool = True,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> dict[str, Outcome]:
    """Poll until every target succeeded or failed, or the timeout; key -> Outcome.

    With `fail_fast`, the wait ends at the first failure (the release is one unit and is
    rolled back as a whole); services still rolling then keep their last, unfinished outcome.
    Every `heartbeat` seconds a line gives the elapsed time and every service's figures.
    """
    stop = stop or StopSignal()
    watch = watch or Watch()
    targets = list(targets)
    pending = {target.key: target for target in targets}
    outcomes: dict[str, Outcome] = {}
    deadline = time.monotonic() + timeout
    pace = Heartbeat(heartbeat)

    def beat() -> None:
        where = rollout_where((t.key for t in targets), outcomes)
        report(heartbeat_line(pace.elapsed(), timeout, where))

    while pending:
        # No deployment finishes the moment it starts: look after one interval, not before.
        pace.pause(stop.sleep, max(0.0, min(poll, deadline - time.monotonic())), beat)
        batch = list(pending.values())
        watch.polls += 1
        for start in range(0, len(batch), DESCRIBE_BATCH):
            chunk = batch[start : start + DESCRIBE_BATCH]
            answer = ecs.describe_services(cluster=cluster, services=[t.service for t in chunk])
            watch.describe_calls += 1
            described = {s.get("serviceName"): s for s in answer.get("services", [])}
            for target in chunk:
                description = described.get(target.service)
                if description is None:
                    outcome = Outcome(FAILED, f"the service is missing from cluster '{cluster}'")
                else:
                    _report_events(target, description, watch, report)
                    started_at = watch.started_at.get(target.key)
                    outcome = classify(description, target.task_definition, started_at)
                outcomes[target.key] = outcome
                line = f"{target.key} ({target.service}): {outcome.state}: {outcome.detail}"
                if watch.last_state.get(target.key) != line:
                    watch.last_state[target.key] = line
                    report(line)
                if outcome.done:
                    watch.settled_at[target.key] = time.monotonic()
                    del pending[target.key]
        if not pending:
            break
        if fail_fast and any(o.state == FAILED for o in outcomes.values()):
            break
        pace.beat(beat)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            for key in pending:
                last = outcomes[key]
                outcomes[key] = Outcome(
                    FAILED,
                    f"timed out after {timeout:g}s ({last.detail})",
                    last.running,
                    last.desired,
                    last.task_definition,
                    last.deployment,
                )
                report(f"{key} ({pending[key].service}): failed: {outcomes[key].detail}")
            break
    return outcomes


def _report_events(
    target: Target,
    description: Mapping[str, Any],
    watch: Watch,
    report: Callable[[str], None],
) -> None:
    seen = watch.seen_events.setdefault(target.service, set())
    fresh = [e for e in description.get("events") or [] if str(e.get("id")) not in seen]
    # ECS lists events newest first; print them in the order they happened.
    for event in reversed(fresh):
        seen.add(str(event.get("id")))
        report(ecs_events.progress_line(target.key, target.service, str(event.get("message", ""))))


@dataclass(frozen=True)
class Rolled:
    """What one update-and-wait did: the services ECS took the update for, the UpdateService
    errors (nothing is waited for when there is one), and each waited service's outcome."""

    updated: list[str]
    update_errors: dict[str, str]
    outcomes: dict[str, Outcome]
    # Service key -> seconds from the update until its outcome was known (or the wait ended).
    seconds: dict[str, float] = field(default_factory=dict)

    def failure(self) -> str | None:
        """Why the move did not succeed, one line; None when every service succeeded."""
        if self.update_errors:
            return "; ".join(
                f"{key}: UpdateService failed: {error}" for key, error in self.update_errors.items()
            )
        problems = [f"{key}: {o.detail}" for key, o in self.outcomes.items() if o.state == FAILED]
        unfinished = [key for key, outcome in self.outcomes.items() if not outcome.done]
        if problems and unfinished:
            problems.append(
                f"not finished when the release stopped waiting: {', '.join(unfinished)}"
            )
        return "; ".join(problems) or None


def roll(
    ecs: Any,
    cluster: str,
    targets: Iterable[Target],
    *,
    poll: float,
    timeout: float,
    watch: Watch,
    stop: StopSignal,
    report: Callable[[str], None],
    fail_fast: bool,
    before_change: Callable[[], None] = lambda: None,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> Rolled:
    """The one update-and-wait of every release: UpdateService for every target at once, then
    wait on all of them together (see `wait_for_services`).

    `before_change` runs right before the first UpdateService (the release's lock check);
    `watch` should already know the events from before the release (`Watch.remember_events`).
    Only a forward rollout, which is rolled back as a whole, stops at the first failure
    (`fail_fast`); a move back waits until every service has settled, so the record says
    where each one ended.
    """
    targets = list(targets)
    before_change()
    errors = update_services(ecs, cluster, targets, watch)
    failed = {key: error for key, error in errors.items() if error}
    updated = [key for key, error in errors.items() if error is None]
    if failed:
        return Rolled(updated, failed, {})
    if targets:
        report(f"updated {len(targets)} service(s); waiting for them together")
    started = time.monotonic()
    for target in targets:  # a watch that saw an earlier move (deploy's rollout, then back)
        watch.settled_at.pop(target.key, None)
    outcomes = wait_for_services(
        ecs,
        cluster,
        targets,
        poll=poll,
        timeout=timeout,
        stop=stop,
        report=report,
        watch=watch,
        fail_fast=fail_fast,
        heartbeat=heartbeat,
    )
    ended = time.monotonic()  # a service still moving when the wait ended: until then
    seconds = {t.key: watch.settled_at.get(t.key, ended) - started for t in targets}
    return Rolled(updated, {}, outcomes, seconds)
