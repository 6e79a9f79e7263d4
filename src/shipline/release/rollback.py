"""A manual rollback: back to an earlier release, or every service scaled to zero.

In order: read the history and the services (nothing may change before the lock) -> choose the
target (pure, `records.rollback_target`) -> decide how each service gets back onto the task
definition it ran under that release (`records.environment_at`; a revision deregistered since
is registered again) -> lock -> record `in_progress` -> register copies -> update every service
at once -> wait on all of them -> verify health -> record -> unlock.

`--scale-to-zero` is the emergency stop: every service of the environment to 0 tasks.

Exit codes: 0 done; 2 refused before any change (bad input, unknown release, nothing to roll
back to, locked); 1 failed before any service moved; 3 failed after services moved (they are
neither where they were nor on the target: a person must act).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipline import console
from shipline.errors import (
    EXIT_DAMAGED,
    EXIT_FAILED,
    EXIT_OK,
    PreflightError,
    ShiplineError,
    UsageError,
)
from shipline.release.history import LockLease, LockLostError
from shipline.release.rollout import short_name

if TYPE_CHECKING:
    from shipline.config import Environment
    from shipline.release.history import History
    from shipline.release.records import FinalStatus, ReleaseKind, ReleaseRecord, ServiceState
    from shipline.release.restore import Change, Restore
    from shipline.release.stopping import StopSignal

# The lock outlives the longest rollback: every wait and the health checks, plus a margin.
LOCK_MARGIN_SECONDS = 300.0


@dataclass(frozen=True)
class LockPolicy:
    """What a rollback does about a held lock: exit 2 at once (the default), wait for it to be
    released (`--wait-for-lock`), or break it on purpose (`--break-lock`, recorded)."""

    wait_seconds: float = 0.0
    break_lock: bool = False


def _wait_for_lock(environment: Environment, policy: LockPolicy, stop: StopSignal) -> None:
    """Before the rollback reads the history: the release holding the lock may change it."""
    from shipline.release.history import Lock
    from shipline.release.stopping import Interrupted

    if policy.break_lock or policy.wait_seconds <= 0:
        return
    try:
        Lock(environment).wait_until_free(
            policy.wait_seconds,
            poll=max(environment.wait.poll, 1.0),
            report=console.info,
            stop_check=stop.check,
            sleep=stop.sleep,
        )
    except Interrupted as exc:
        raise ShiplineError(f"{exc} while waiting for the lock; nothing changed") from None


@dataclass
class Outcome:
    """What the command did, for the exit code, the JSON result and the step summary."""

    record: ReleaseRecord
    record_uri: str
    exit_code: int
    moved: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    registered: dict[str, str] = field(default_factory=dict)  # key -> new ARN


# --- preflight: reads only ---------------------------------------------------------------


def _services_now(ecs: Any, environment: Environment) -> dict[str, dict[str, Any]]:
    """Service key -> DescribeServices item, for every service of the environment that exists
    and is ACTIVE; PreflightError naming the others."""
    from shipline.release.restore import describe_services

    names = {key: service.service for key, service in environment.services.items()}
    described = describe_services(ecs, environment.cluster, names.values())
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
    return {key: described[name] for key, name in names.items()}


def _check_cluster(ecs: Any, environment: Environment) -> None:
    answer = ecs.describe_clusters(clusters=[environment.cluster])
    clusters = [c for c in answer.get("clusters", []) if c.get("status") == "ACTIVE"]
    if not clusters:
        raise PreflightError(f"cluster {environment.cluster} does not exist or is not ACTIVE")


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


def _open(environment: Environment) -> tuple[Any, History]:
    from shipline import aws
    from shipline.release.history import History

    history = History(environment)
    history.check_reachable()
    ecs = aws.client("ecs", environment.region)
    _check_cluster(ecs, environment)
    return ecs, history


def _new_record(environment: Environment, kind: ReleaseKind) -> ReleaseRecord:
    from shipline import github
    from shipline.release.records import ReleaseRecord, new_release_id

    context = github.run_context()
    return ReleaseRecord(
        release_id=new_release_id(),
        environment=environment.name,
        kind=kind,
        actor=context.actor,
        git_sha=context.git_sha,
        run_url=context.run_url,
    )


def _lock_ttl(environment: Environment) -> float:
    return environment.wait.timeout + environment.health.timeout + LOCK_MARGIN_SECONDS


# --- rollback ------------------------------------------------------------------------------


def roll_back(
    environment: Environment,
    to: str | None,
    stop: StopSignal,
    policy: LockPolicy = LockPolicy(),
) -> Outcome:
    from shipline.release.records import environment_at, replay, rollback_target
    from shipline.release.restore import plan_restore

    _wait_for_lock(environment, policy, stop)
    ecs, history = _open(environment)
    records = history.list()
    for skipped in history.unreadable:
        console.info(f"ignored {skipped.uri} (it {skipped.reason})")
    now = _services_now(ecs, environment)
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
    record = _new_record(environment, "rollback")
    record.rolled_back_to = target.release_id
    record.images = dict(target.images)
    return _apply(environment, ecs, history, record, wanted, restores, now, stop, policy)


def _rollback_changes(
    environment: Environment,
    wanted: dict[str, ServiceState],
    arns: dict[str, str],
    now: dict[str, dict[str, Any]],
) -> list[Change]:
    from shipline.release.records import restored_desired_count
    from shipline.release.restore import Change

    changes = []
    for key, state in wanted.items():
        count_now = int(now[key].get("desiredCount") or 0)
        count = restored_desired_count(count_now, state.desired_count)
        if arns[key] == now[key]["taskDefinition"] and count == count_now:
            continue
        changes.append(
            Change(
                key=key,
                service=environment.services[key].service,
                task_definition=arns[key],
                desired_count=count if count != count_now else None,
            )
        )
    return changes


def _apply(
    environment: Environment,
    ecs: Any,
    history: History,
    record: ReleaseRecord,
    wanted: dict[str, ServiceState],
    restores: dict[str, Restore],
    now: dict[str, dict[str, Any]],
    stop: StopSignal,
    policy: LockPolicy,
) -> Outcome:
    from shipline import github
    from shipline.release.records import ServiceRecord, restored_desired_count
    from shipline.release.restore import register

    for key, state in wanted.items():
        count_now = int(now[key].get("desiredCount") or 0)
        record.services[key] = ServiceRecord(
            service=environment.services[key].service,
            task_definition=state.task_definition,
            previous_task_definition=now[key]["taskDefinition"],
            desired_count=restored_desired_count(count_now, state.desired_count),
            task_definition_content=restores[key].content,
        )
    outcome = Outcome(record=record, record_uri=history.uri(record.release_id), exit_code=EXIT_OK)
    with _locked(environment, history, record, policy) as guard:
        arns = {key: state.task_definition for key, state in wanted.items()}
        try:
            with github.group("Register task definitions"):
                for key, restore in restores.items():
                    if restore.source in {"copy", "content"} and restore.content:
                        guard.assert_held()
                        arns[key] = register(ecs, restore.content)
                        outcome.registered[key] = arns[key]
                        record.services[key].registered_from = restore.recorded
                        record.services[key].task_definition = arns[key]
                        how = "deregistered" if restore.source == "copy" else "deleted"
                        console.info(
                            f"{key}: {short_name(restore.recorded)} was {how} since; "
                            f"registered it again as {short_name(arns[key])}"
                        )
            if outcome.registered:
                history.update(record)
        except LockLostError:
            raise
        except Exception as exc:
            _finish(history, record, "failed", f"registering task definitions failed: {exc}")
            outcome.exit_code = EXIT_FAILED
            return outcome
        changes = _rollback_changes(environment, wanted, arns, now)
        outcome.already = sorted(set(wanted) - {change.key for change in changes})
        _move_wait_verify(
            environment, ecs, history, outcome, changes, now, stop, verify=True, guard=guard
        )
    return outcome


# --- scale to zero -----------------------------------------------------------------------


def scale_to_zero(
    environment: Environment,
    stop: StopSignal,
    policy: LockPolicy = LockPolicy(),
) -> Outcome:
    from shipline.release.records import ServiceRecord
    from shipline.release.restore import Change

    _wait_for_lock(environment, policy, stop)
    ecs, history = _open(environment)
    now = _services_now(ecs, environment)
    record = _new_record(environment, "scale-to-zero")
    changes = []
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
            changes.append(
                Change(
                    key=key,
                    service=environment.services[key].service,
                    task_definition=description["taskDefinition"],
                    desired_count=0,
                )
            )
    console.info(f"scaling every service of {environment.name} to 0 tasks")
    outcome = Outcome(record=record, record_uri=history.uri(record.release_id), exit_code=EXIT_OK)
    outcome.already = sorted(set(now) - {change.key for change in changes})
    with _locked(environment, history, record, policy) as guard:
        _move_wait_verify(
            environment, ecs, history, outcome, changes, now, stop, verify=False, guard=guard
        )
    return outcome


# --- shared: lock, move, wait, verify, record --------------------------------------------


class _locked:
    """Hold the environment lock and the in_progress record for the length of a change.

    Whatever happens inside, the record ends with a final status and the lock is released."""

    def __init__(
        self,
        environment: Environment,
        history: History,
        record: ReleaseRecord,
        policy: LockPolicy,
    ) -> None:
        from shipline.release.history import Lock

        self.lock = Lock(environment)
        self.environment = environment
        self.history = history
        self.record = record
        self.policy = policy
        self.lease: LockLease | None = None

    def assert_held(self) -> None:
        """Before every change: the rollback still holds the lock (LockLostError otherwise)."""
        if self.lease is not None:
            self.lease.assert_held()

    def __enter__(self) -> _locked:
        from shipline import github
        from shipline.release.history import LockLease

        context = github.run_context()
        if self.policy.break_lock:
            held, broken = self.lock.take_over(
                self.record.release_id,
                holder=context.holder,
                run_url=context.run_url,
                ttl_seconds=_lock_ttl(self.environment),
            )
            if broken is not None:
                self.record.broke_lock = broken.to_dict()
                console.info(f"broke the lock of {self.environment.name}: {broken.describe()}")
        else:
            held = self.lock.acquire(
                self.record.release_id,
                holder=context.holder,
                run_url=context.run_url,
                ttl_seconds=_lock_ttl(self.environment),
            )
        try:
            self.history.create(self.record)
        except BaseException:
            self.lock.release(self.record.release_id)
            raise
        self.lease = LockLease(self.lock, held, _lock_ttl(self.environment)).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: Any
    ) -> None:
        if self.lease is not None:
            self.lease.stop()
        try:
            if self.record.status == "in_progress":
                reason = f"stopped by an unexpected error: {error}" if error else "stopped"
                if isinstance(error, LockLostError):  # another release holds it: hands off
                    reason = f"{error.message}; services left as they are"
                _finish(self.history, self.record, "failed", reason)
        finally:
            self._unlock()

    def _unlock(self) -> None:
        from shipline.errors import ShiplineError

        try:
            released = self.lock.release(self.record.release_id)
        except ShiplineError as exc:
            # Our lock expired and another release took it over: theirs stays, our result too.
            console.info(f"note: {exc.message}")
            return
        if released is None:
            console.info(f"note: the lock of {self.environment.name} was already gone")


def _finish(
    history: History, record: ReleaseRecord, status: FinalStatus, error: str | None = None
) -> None:
    record.finish(status, error)
    history.update(record)


def _move_wait_verify(
    environment: Environment,
    ecs: Any,
    history: History,
    outcome: Outcome,
    changes: list[Change],
    before: dict[str, dict[str, Any]],
    stop: StopSignal,
    *,
    verify: bool,
    guard: _locked,
) -> None:
    """Update every changed service at once, wait on all, verify; the record's final status.

    `before` (key -> DescribeServices item read before any change): its events are old news."""
    from shipline import github
    from shipline.release.health import HealthCheck
    from shipline.release.health import verify as verify_health
    from shipline.release.records import HealthRecord
    from shipline.release.restore import update_all
    from shipline.release.rollout import Target, Watch, wait_for_services
    from shipline.release.stopping import Interrupted

    record = outcome.record
    for key in outcome.already:
        console.info(f"{key}: already there, left as it is")
    try:
        guard.assert_held()
        with github.group("Update services"):
            errors = update_all(ecs, environment.cluster, changes)
        outcome.moved = [key for key, problem in errors.items() if problem is None]
        failed = {key: problem for key, problem in errors.items() if problem}
        for key, problem in failed.items():
            console.info(f"{key}: update failed: {problem}")
        if failed:
            code = EXIT_DAMAGED if outcome.moved else EXIT_FAILED
            _finish(history, record, "failed", f"UpdateService failed for {', '.join(failed)}")
            outcome.exit_code = code
            return
        targets = [Target(c.key, c.service, c.task_definition) for c in changes]
        watch = Watch()
        watch.remember_events(before.values())
        with github.group("Wait for the services"):
            results = wait_for_services(
                ecs,
                environment.cluster,
                targets,
                poll=environment.wait.poll,
                timeout=environment.wait.timeout,
                stop=stop,
                report=console.info,
                watch=watch,
            )
        not_ok = {key: result.detail for key, result in results.items() if not result.succeeded}
        if not_ok:
            detail = "; ".join(f"{key}: {text}" for key, text in sorted(not_ok.items()))
            _finish(history, record, "failed", f"services did not settle: {detail}")
            outcome.exit_code = EXIT_DAMAGED
            return
        if verify:
            checks = [
                HealthCheck(
                    key,
                    environment.services[key].health or "",
                    environment.services[key].health_expect,
                )
                for key in sorted(record.services)
                if environment.services[key].health
            ]
            with github.group("Verify health"):
                results_h = verify_health(
                    checks, environment.health, stop=stop, report=console.info
                )
            record.health = [
                HealthRecord(
                    url=r.url,
                    ok=r.ok,
                    status=r.status,
                    attempts=r.attempts,
                    service=r.service,
                    error=r.error,
                )
                for r in results_h
            ]
            unhealthy = [r.service for r in results_h if not r.ok]
            if unhealthy:
                _finish(
                    history,
                    record,
                    "failed",
                    f"unhealthy after the rollback: {', '.join(unhealthy)}",
                )
                outcome.exit_code = EXIT_DAMAGED
                return
        _finish(history, record, "succeeded")
    except Interrupted as exc:
        _finish(history, record, "interrupted", str(exc))
        outcome.exit_code = EXIT_DAMAGED if outcome.moved else EXIT_FAILED
