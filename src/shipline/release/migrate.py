"""The database migration as a one-off ECS task whose exit code decides.

The task runs the NEW task definition of the migrate service (so the migration is the code
being released), in that service's network configuration, with the command overridden on the
named container. It is waited for until STOPPED; that container's exit code is the verdict,
and on failure the last lines of its awslogs stream and the stop reason say why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipline.release.stopping import Interrupted, StopSignal

LOG_TAIL_LINES = 50


@dataclass(frozen=True)
class MigrationResult:
    task_arn: str | None
    task_definition: str
    exit_code: int | None
    reason: str | None
    log_tail: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def to_record(self) -> dict[str, Any]:
        """The release record's `migrate` object."""
        return {
            "task_arn": self.task_arn,
            "task_definition": self.task_definition,
            "exit_code": self.exit_code,
            "reason": self.reason,
        }


def launch_settings(service_description: Mapping[str, Any]) -> dict[str, Any]:
    """RunTask arguments that place the task like the service's own tasks."""
    settings: dict[str, Any] = {}
    if service_description.get("networkConfiguration"):
        settings["networkConfiguration"] = service_description["networkConfiguration"]
    if service_description.get("capacityProviderStrategy"):
        settings["capacityProviderStrategy"] = service_description["capacityProviderStrategy"]
    elif service_description.get("launchType"):
        settings["launchType"] = service_description["launchType"]
    if service_description.get("platformVersion") and service_description.get("launchType") in (
        None,
        "FARGATE",
    ):
        settings["platformVersion"] = service_description["platformVersion"]
    return settings


def run_migration(
    ecs: Any,
    logs: Any,
    *,
    cluster: str,
    task_definition: Mapping[str, Any],
    container: str,
    command: Sequence[str],
    launch: Mapping[str, Any],
    poll: float,
    timeout: float,
    stop: StopSignal | None = None,
    report: Callable[[str], None] = lambda line: None,
) -> MigrationResult:
    """Run the migration task and wait for it; a failure is a result, not an exception.

    `task_definition` is the described task definition (its ARN is run; its container's log
    configuration says where the log tail is). On the timeout the task is stopped.
    """
    stop = stop or StopSignal()
    arn = task_definition["taskDefinitionArn"]
    answer = ecs.run_task(
        cluster=cluster,
        taskDefinition=arn,
        count=1,
        startedBy="shipline-migrate",
        overrides={"containerOverrides": [{"name": container, "command": list(command)}]},
        **launch,
    )
    tasks = answer.get("tasks") or []
    if not tasks:
        failures = answer.get("failures") or [{}]
        reason = "; ".join(
            f"{f.get('reason', 'unknown')}{' (' + f['detail'] + ')' if f.get('detail') else ''}"
            for f in failures
        )
        report(f"migration task did not start: {reason}")
        return MigrationResult(None, arn, None, f"RunTask failed: {reason}")
    task_arn = tasks[0]["taskArn"]
    report(f"migration task {task_arn.rsplit('/', 1)[-1]} started: {' '.join(command)}")
    deadline = time.monotonic() + timeout
    last_status = None
    while True:
        # A task does not stop the moment it starts: look after one interval, not before.
        try:
            stop.sleep(max(0.0, min(poll, deadline - time.monotonic())))
        except Interrupted as exc:
            task_id = task_arn.rsplit("/", 1)[-1]
            raise Interrupted(
                exc.signal_name,
                left_behind=f"the migration task {task_id} is still running in ECS; stop it "
                f"with `aws ecs stop-task --cluster {cluster} --task {task_id}`",
            ) from exc
        task = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
        if task.get("lastStatus") != last_status:
            last_status = task.get("lastStatus")
            report(f"migration task: {last_status}")
        if last_status == "STOPPED":
            break
        if time.monotonic() >= deadline:
            reason = f"the migration did not stop within {timeout:g}s; shipline stopped it"
            ecs.stop_task(cluster=cluster, task=task_arn, reason=reason[:255])
            tail = _tail_for(logs, task_definition, container, task_arn)
            return MigrationResult(task_arn, arn, None, reason, tail)
    exit_code, stopped_reason = exit_of(task, container)
    tail = () if exit_code == 0 else _tail_for(logs, task_definition, container, task_arn)
    return MigrationResult(task_arn, arn, exit_code, stopped_reason, tail)


def exit_of(task: Mapping[str, Any], container: str) -> tuple[int | None, str | None]:
    """The named container's exit code and the stop reason (task's, then container's)."""
    found = next((c for c in task.get("containers") or [] if c.get("name") == container), None)
    exit_code = found.get("exitCode") if found else None
    reasons = [task.get("stoppedReason"), (found or {}).get("reason")]
    if found is None:
        reasons.append(f"container '{container}' is not in the task")
    reason = "; ".join(str(r) for r in reasons if r) or None
    return exit_code, reason


def log_location(
    task_definition: Mapping[str, Any], container: str, task_arn: str
) -> tuple[str, str, str | None] | None:
    """(group, stream, region) of the container's awslogs stream, None without awslogs."""
    definition: Mapping[str, Any] = next(
        (c for c in task_definition.get("containerDefinitions", []) if c.get("name") == container),
        {},
    )
    config = definition.get("logConfiguration") or {}
    options = config.get("options") or {}
    if config.get("logDriver") != "awslogs" or "awslogs-group" not in options:
        return None
    task_id = task_arn.rsplit("/", 1)[-1]
    prefix = options.get("awslogs-stream-prefix")
    stream = f"{prefix}/{container}/{task_id}" if prefix else task_id
    return options["awslogs-group"], stream, options.get("awslogs-region")


def tail_log(logs: Any, group: str, stream: str, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last `lines` messages of a log stream, paging backwards from its end."""
    events: list[dict[str, Any]] = []
    token: str | None = None
    while len(events) < lines:
        request: dict[str, Any] = {
            "logGroupName": group,
            "logStreamName": stream,
            "startFromHead": False,
            "limit": lines - len(events),
        }
        if token:
            request["nextToken"] = token
        answer = logs.get_log_events(**request)
        batch = answer.get("events") or []
        events = batch + events
        following = answer.get("nextBackwardToken")
        # The end of the stream repeats the token it was given.
        if not batch or not following or following == token:
            break
        token = following
    return [str(event.get("message", "")).rstrip("\n") for event in events[-lines:]]


def _tail_for(
    logs: Any, task_definition: Mapping[str, Any], container: str, task_arn: str
) -> tuple[str, ...]:
    location = log_location(task_definition, container, task_arn)
    if location is None:
        return ("(the container has no awslogs log configuration)",)
    group, stream, _region = location
    try:
        return tuple(tail_log(logs, group, stream))
    except Exception as exc:  # a missing stream must not hide the migration's own failure
        return (f"(no log lines: {type(exc).__name__}: {exc})",)
