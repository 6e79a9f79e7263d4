"""A manual rollback: back to an earlier release, or every service scaled to zero.

In order: read the history and the services (nothing may change before the lock) -> choose the
target (pure, `records.rollback_target`) -> decide how each service gets back onto the task
definition it ran under that release (`records.environment_at`; a revision deregistered since
is registered again) -> the release session (lock, `in_progress` record) -> register copies ->
the one update-and-wait every release uses (`rollout.roll`) -> verify health -> record ->
unlock.

`--scale-to-zero` is the emergency stop: every service of the environment to 0 tasks.

Exit codes: 0 done; 2 refused before any change (bad input, unknown release, nothing to roll
back to, locked); 1 failed before any service moved; 3 failed after services moved (they are
neither where they were nor on the target: a person must act).
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipline import aws, console
from shipline.aws import short_name
from shipline.errors import EXIT_DAMAGED, EXIT_FAILED, EXIT_OK, PreflightError, UsageError
from shipline.release.phases import PhaseClock
from shipline.release.rollout import Target
from shipline.release.session import LockPolicy, ReleaseSession, new_record, wait_for_lock

if TYPE_CHECKING:
    from shipline.config import Environment
    from shipline.release.records import ReleaseRecord, ServiceState
    from shipline.release.restore import Restore
    from shipline.release.stopping import StopSignal


@dataclass
class RollbackResult:
    """What the command did, for the exit code, the JSON result and the step summary."""

    record: ReleaseRecord
    record_uri: str
    exit_code: int
    moved: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    registered: dict[str, str] = field(default_factory=dict)  # key -> new ARN
    seconds: dict[str, float] = field(default_factory=dict)  # key -> how long it took to settle
    total_seconds: float | None = None  # the whole command, from its first read to its end


# --- preflight: reads only ---------------------------------------------------------------


def _services_now(environment: Environment) -> tuple[Any, dict[str, dict[str, Any]]]:
    """The ECS client, and service key -> DescribeServices item for every service of the
    environment, after checking the history can be read; PreflightError naming any service
    that is missing or not ACTIVE."""
    from shipline.release.store import History

    History(environment).check_reachable()
    ecs = aws.client("ecs", environment.region)
    names = {key: service.service for key, service in environment.services.items()}
    described = aws.describe_services(ecs, environment.cluster, names.values())
    problems = [
        f"{key} ({name}): {'missing' if name not in described else described[name]['status']}"
        for key, name in names.items()
        if name not in described or described[name].get("status") != "ACTIVE"
    ]
    if problems:
        raise PreflightError(
            f"services of {environment.name} not ACTIVE in cluster {environment.cluster}: "
            + "; ".join(problems)
        )
    return ecs, {key: described[name] for key, name in names.items()}


def _check_target_images(
    environment: Environment, release_id: str, restores: dict[str, Restore]
) -> None:
    """Every release image the target runs must still be in its registry, by digest, as
    deploy's `image-digests` check proves: PreflightError naming each one that is gone.

    An image that cannot be looked up (no credentials here, the registry unreachable) is only
    noted: ECS pulls with its own role, and a rollback is not held up by a registry outage.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from shipline.images.reference import ImageNotFound
    from shipline.images.resolve import resolve_with_environment

    services_of: dict[str, list[str]] = {}
    for key, restore in sorted(restores.items()):
        container = environment.services[key].container
        for definition in (restore.content or {}).get("containerDefinitions", []):
            if definition.get("name") == container and definition.get("image"):
                services_of.setdefault(str(definition["image"]), []).append(key)
    gone = []
    for image, keys in services_of.items():
        try:
            resolve_with_environment({", ".join(keys): image})
        except ImageNotFound as exc:
            gone.append(exc.message)
        except (UsageError, BotoCoreError, ClientError) as exc:
            reason = exc.message if isinstance(exc, UsageError) else type(exc).__name__
            console.info(f"note: could not check the image of {', '.join(keys)}: {reason}")
    if gone:
        raise PreflightError(
            f"cannot return to {release_id}: images it runs are gone: " + "; ".join(gone)
        )


# --- rollback ------------------------------------------------------------------------------


def roll_back(
    environment: Environment,
    to: str | None,
    stop: StopSignal,
    policy: LockPolicy,
) -> RollbackResult:
    started = time.monotonic()
    with console.phase("preflight"):
        ecs, record, wanted, restores, now = _plan_rollback(environment, to, stop, policy)
    result = _apply(environment, ecs, record, wanted, restores, now, stop, policy)
    result.total_seconds = time.monotonic() - started
    return result


def _plan_rollback(
    environment: Environment,
    to: str | None,
    stop: StopSignal,
    policy: LockPolicy,
) -> tuple[
    Any, ReleaseRecord, dict[str, ServiceState], dict[str, Restore], dict[str, dict[str, Any]]
]:
    """Reads only: the ECS client, the new record, what each service returns to and how, and
    the services as they are now."""
    from shipline.release.records import environment_at, replay, rollback_target
    from shipline.release.restore import plan_restore
    from shipline.release.store import History

    wait_for_lock(environment, policy, stop)
    ecs, now = _services_now(environment)
    history = History(environment)
    records = history.list()
    for skipped in history.unreadable:
        console.info(f"ignored {skipped.uri} (it {skipped.reason})")
    current = {key: description["taskDefinition"] for key, description in now.items()}
    target = rollback_target(records, to=to, current=current)
    live = replay(records).live
    if to is None and live is not None and target.release_id == live.release_id:
        console.info(
            f"the services do not run what the live release {live.release_id} put them on "
            "(a deploy left them half-moved): returning to that release first"
        )
    wanted = {
        key: state
        for key, state in environment_at(records, target.release_id).items()
        if key in environment.services
    }
    if not wanted:
        raise UsageError(
            f"release {target.release_id} recorded none of the services of {environment.name}"
        )
    unknown = sorted(set(environment.services) - set(wanted))
    if unknown:
        console.info(
            f"left alone (no record says what they ran under {target.release_id}): "
            + ", ".join(unknown)
        )
    console.info(f"rolling {environment.name} back to release {target.release_id}")
    restores = plan_restore(ecs, wanted)
    missing = sorted(key for key, restore in restores.items() if restore.source == "missing")
    if missing:
        raise PreflightError(
            f"cannot return to {target.release_id}: the task definitions of "
            + ", ".join(f"{key} ({restores[key].recorded})" for key in missing)
            + " are gone and the record holds no copy of them"
        )
    redacted = {key: wanted[key] for key in restores if restores[key].source == "redacted"}
    if redacted:
        raise PreflightError(
            f"cannot return to {target.release_id}: the task definitions of "
            + ", ".join(f"{key} ({state.task_definition})" for key, state in redacted.items())
            + " are gone and the record's copy is redacted (plain secrets never stored: "
            + ", ".join(name for state in redacted.values() for name in state.redacted)
            + "); register them again with their secrets in `secrets`, then deploy that"
        )
    _check_target_images(environment, target.release_id, restores)
    record = new_record(environment, "rollback")
    record.rolled_back_to = target.release_id
    record.images = dict(target.images)
    record.commit = target.commit  # the commit of the images it returns to
    return ecs, record, wanted, restores, now


def _rollback_targets(
    environment: Environment,
    wanted: dict[str, ServiceState],
    arns: dict[str, str],
    now: dict[str, dict[str, Any]],
) -> list[Target]:
    """One target per service not already on its recorded task definition and task count."""
    from shipline.release.records import restored_desired_count

    targets = []
    for key, state in wanted.items():
        count_now = int(now[key].get("desiredCount") or 0)
        count = restored_desired_count(count_now, state.desired_count)
        if arns[key] == now[key]["taskDefinition"] and count == count_now:
            continue
        targets.append(
            Target(
                key=key,
                service=environment.services[key].service,
                task_definition=arns[key],
                desired_count=count if count != count_now else None,
            )
        )
    return targets


def _apply(
    environment: Environment,
    ecs: Any,
    record: ReleaseRecord,
    wanted: dict[str, ServiceState],
    restores: dict[str, Restore],
    now: dict[str, dict[str, Any]],
    stop: StopSignal,
    policy: LockPolicy,
) -> RollbackResult:
    from shipline.release.records import ServiceRecord, restored_desired_count
    from shipline.release.restore import register
    from shipline.release.store import LockLostError

    for key, state in wanted.items():
        count_now = int(now[key].get("desiredCount") or 0)
        record.services[key] = ServiceRecord(
            service=environment.services[key].service,
            task_definition=state.task_definition,
            previous_task_definition=now[key]["taskDefinition"],
            desired_count=restored_desired_count(count_now, state.desired_count),
            task_definition_content=restores[key].content,
        )
    session = ReleaseSession(environment, record, break_lock=policy.break_lock)
    result = RollbackResult(record=record, record_uri=session.record_uri, exit_code=EXIT_OK)
    clock = PhaseClock(record)
    with session:
        arns = {key: state.task_definition for key, state in wanted.items()}
        registers = any(r.source in {"copy", "content"} and r.content for r in restores.values())
        try:
            with clock.phase("register task definitions") if registers else nullcontext():
                for key, restore in restores.items():
                    if restore.source in {"copy", "content"} and restore.content:
                        session.assert_held()
                        arns[key] = register(ecs, restore.content)
                        result.registered[key] = arns[key]
                        record.services[key].registered_from = restore.recorded
                        record.services[key].task_definition = arns[key]
                        how = "deregistered" if restore.source == "copy" else "deleted"
                        console.info(
                            f"{key}: {short_name(restore.recorded)} was {how} since; "
                            f"registered it again as {short_name(arns[key])}"
                        )
            if result.registered:
                session.save()
        except LockLostError:
            raise
        except Exception as exc:
            session.finish("failed", f"registering task definitions failed: {exc}")
            result.exit_code = EXIT_FAILED
            return result
        targets = _rollback_targets(environment, wanted, arns, now)
        result.already = sorted(set(wanted) - {target.key for target in targets})
        _move_wait_verify(environment, ecs, session, result, targets, now, stop, verify=True)
    return result


# --- scale to zero -----------------------------------------------------------------------


def scale_to_zero(
    environment: Environment,
    stop: StopSignal,
    policy: LockPolicy,
) -> RollbackResult:
    from shipline.release.records import ServiceRecord

    started = time.monotonic()
    with console.phase("preflight"):
        wait_for_lock(environment, policy, stop)
        ecs, now = _services_now(environment)
    record = new_record(environment, "scale-to-zero")
    targets = []
    for key, description in now.items():
        count_now = int(description.get("desiredCount") or 0)
        record.services[key] = ServiceRecord(
            service=environment.services[key].service,
            task_definition=description["taskDefinition"],
            previous_task_definition=description["taskDefinition"],
            desired_count=0,
            previous_desired_count=count_now,
        )
        if count_now:
            targets.append(
                Target(
                    key=key,
                    service=environment.services[key].service,
                    task_definition=description["taskDefinition"],
                    desired_count=0,
                )
            )
    console.info(f"scaling every service of {environment.name} to 0 tasks")
    session = ReleaseSession(environment, record, break_lock=policy.break_lock)
    result = RollbackResult(record=record, record_uri=session.record_uri, exit_code=EXIT_OK)
    result.already = sorted(set(now) - {target.key for target in targets})
    with session:
        _move_wait_verify(environment, ecs, session, result, targets, now, stop, verify=False)
    result.total_seconds = time.monotonic() - started
    return result


# --- shared: move, wait, verify, record ------------------------------------------------------


def _move_wait_verify(
    environment: Environment,
    ecs: Any,
    session: ReleaseSession,
    result: RollbackResult,
    targets: list[Target],
    before: dict[str, dict[str, Any]],
    stop: StopSignal,
    *,
    verify: bool,
) -> None:
    """Move every target with the release's one update-and-wait, verify; the final status.

    `before` (key -> DescribeServices item read before any change): its events are old news."""
    from shipline.release.health import checks_for
    from shipline.release.health import verify as verify_health
    from shipline.release.records import health_records
    from shipline.release.rollout import Watch, roll
    from shipline.release.stopping import Interrupted

    record = result.record
    clock = PhaseClock(record)
    for key in result.already:
        console.info(f"{key}: already there, left as it is")
    watch = Watch()
    watch.remember_events(before.values())
    # Interrupted inside `roll` means the updates went out: count every target as moved.
    result.moved = [target.key for target in targets]
    try:
        with clock.phase("roll back" if record.kind == "rollback" else "scale to zero") as step:
            rolled = roll(
                ecs,
                environment.cluster,
                targets,
                poll=environment.wait.poll,
                heartbeat=environment.wait.heartbeat,
                timeout=environment.wait.timeout,
                watch=watch,
                stop=stop,
                report=console.info,
                fail_fast=False,
                before_change=session.assert_held,
            )
            if rolled.failure() is not None:
                step.fail()
        result.moved = rolled.updated
        result.seconds = rolled.seconds
        for key, problem in rolled.update_errors.items():
            console.info(f"{key}: update failed: {problem}")
        if rolled.update_errors:
            code = EXIT_DAMAGED if result.moved else EXIT_FAILED
            failed = ", ".join(rolled.update_errors)
            session.finish("failed", f"UpdateService failed for {failed}")
            result.exit_code = code
            return
        failure = rolled.failure()
        if failure is not None:
            session.finish("failed", f"services did not settle: {failure}")
            result.exit_code = EXIT_DAMAGED
            return
        if verify:
            checks = checks_for(environment.services, sorted(record.services))
            with clock.phase("verify") as step:
                health = verify_health(checks, environment.health, stop=stop, report=console.info)
                if not all(r.ok for r in health):
                    step.fail()
            record.health = health_records(health)
            unhealthy = [r.service for r in health if not r.ok]
            if unhealthy:
                session.finish("failed", f"unhealthy after the rollback: {', '.join(unhealthy)}")
                result.exit_code = EXIT_DAMAGED
                return
        session.finish("succeeded")
    except Interrupted as exc:
        session.finish("interrupted", str(exc))
        result.exit_code = EXIT_DAMAGED if result.moved else EXIT_FAILED
