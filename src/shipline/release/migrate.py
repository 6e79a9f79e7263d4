"""The database migration as a one-off ECS task whose exit code decides: step 4 of a deploy
(`run_migration`), or a release of its own (`migrate`, the `shipline migrate` flow).

The task runs the NEW task definition of the migrate service (so the migration is the code
being released), in that service's network configuration, with the command overridden on the
named container. It is waited for until STOPPED; that container's exit code is the verdict,
and on failure the last lines of its awslogs stream and the stop reason say why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipline.aws import short_name
from shipline.release.heartbeat import HEARTBEAT_SECONDS, Heartbeat, heartbeat_line, migration_where
from shipline.release.stopping import Interrupted, StopSignal
from shipline.sensitive import mask_text

if TYPE_CHECKING:
    from shipline.config import Environment
    from shipline.release.records import ReleaseRecord

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
    heartbeat: float = HEARTBEAT_SECONDS,
) -> MigrationResult:
    """Run the migration task and wait for it; a failure is a result, not an exception.

    `task_definition` is the described task definition (its ARN is run; its container's log
    configuration says where the log tail is). On the timeout the task is stopped. Every
    `heartbeat` seconds a line gives the elapsed time and the task's last status.
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
    report(f"migration task {short_name(task_arn)} started: {' '.join(command)}")
    deadline = time.monotonic() + timeout
    last_status = None
    pace = Heartbeat(heartbeat)

    def beat() -> None:
        where = migration_where(short_name(task_arn), last_status)
        report(heartbeat_line(pace.elapsed(), timeout, where))

    while True:
        # A task does not stop the moment it starts: look after one interval, not before.
        try:
            pace.pause(stop.sleep, max(0.0, min(poll, deadline - time.monotonic())), beat)
        except Interrupted as exc:
            task_id = short_name(task_arn)
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
        pace.beat(beat)
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
    task_id = short_name(task_arn)
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


# --- the migration as a release of its own (`shipline migrate`) ------------------------------


@dataclass
class MigrateRun:
    """What `shipline migrate` did: its record (kind migrate) and the task's result (None when
    it was interrupted before the task ended)."""

    record: ReleaseRecord
    record_uri: str
    result: MigrationResult | None
    exit_code: int


def migrate(
    environment: Environment,
    *,
    image: tuple[str, str] | None,
    task_definition: str | None,
    stop: StopSignal,
    report: Callable[[str], None],
) -> MigrateRun:
    """Run the migration alone, in a release session of its own (kind `migrate`): with
    `image` (KEY, REF), the migrate service's live task definition is registered with that
    image first; with `task_definition` (an ARN), that one runs as it is.

    Refused (exit 2, nothing changed) when the environment has no migration, the image key or
    task definition does not fit the migrate service, or another release holds the lock."""
    from shipline import aws
    from shipline.errors import EXIT_FAILED, EXIT_OK, PreflightError, UsageError
    from shipline.release import plan
    from shipline.release.records import MigrateRecord
    from shipline.release.session import ReleaseSession, new_record, refuse_if_locked

    settings = environment.migrate
    if settings is None:
        said = "says `migrate: none`" if environment.migrate_none else "has no `migrate` section"
        raise UsageError(f"environment '{environment.name}' {said}")
    service = environment.services[settings.service]
    ecs = aws.client("ecs", environment.region)
    found = aws.describe_services(ecs, environment.cluster, [service.service])
    description = found.get(service.service)
    if description is None or description.get("status") != "ACTIVE":
        raise PreflightError(
            f"service '{service.service}' is not an ACTIVE service of cluster "
            f"'{environment.cluster}'"
        )
    refuse_if_locked(environment)
    record = new_record(environment, "migrate")
    request: dict[str, Any] | None = None  # a task definition to register first
    described: dict[str, Any] | None = None  # or the registered one to run as it is
    if image is not None:
        key, reference = image
        if key != service.image:
            raise UsageError(
                f"--image {key}: the migration runs service '{service.key}', whose image key "
                f"is '{service.image}'"
            )
        plan.plan_moves(environment, {key: reference}, {})  # checks the reference
        if "@" not in reference:  # run exactly what the tag names now, as a deploy does
            from shipline.images.resolve import pin_references

            reference = pin_references({key: reference})[key]
            report(f"image {key}: {mask_text(reference)}")
        live = ecs.describe_task_definition(
            taskDefinition=description["taskDefinition"], include=["TAGS"]
        )
        request = plan.render_task_definition(live, settings.container, reference)
        record.images = {key: reference}
    else:
        arn = str(task_definition)
        if not plan.TASK_DEFINITION_ARN.fullmatch(arn):
            raise UsageError(f"--task-definition '{arn}' is not a task definition ARN")
        described = aws.describe_task_definition(ecs, arn, "--task-definition")
        problem = plan.container_problem(described, settings.container)
        if problem:
            raise UsageError(problem)
    session = ReleaseSession(environment, record, report=report)
    run = MigrateRun(record, session.record_uri, None, EXIT_FAILED)
    with session:
        if request is not None:
            session.assert_held()
            described = ecs.register_task_definition(**request)["taskDefinition"]
            report(f"registered {described['family']}:{described['revision']}")
        assert described is not None
        session.assert_held()
        try:
            result = run_migration(
                ecs,
                aws.client("logs", environment.region),
                cluster=environment.cluster,
                task_definition=described,
                container=settings.container,
                command=settings.command,
                launch=launch_settings(description),
                poll=environment.wait.poll,
                heartbeat=environment.wait.heartbeat,
                timeout=settings.timeout,
                stop=stop,
                report=report,
            )
        except Interrupted as exc:
            left = exc.left_behind or "the migration task keeps running in ECS"
            session.finish("interrupted", f"{exc}: stopped waiting; {left}")
            return run
        run.result = result
        record.migrate = MigrateRecord(**result.to_record())
        if result.ok:
            session.finish("succeeded")
            run.exit_code = EXIT_OK
        else:
            session.finish(
                "failed", f"migration failed (exit code {result.exit_code}): {result.reason}"
            )
    return run
