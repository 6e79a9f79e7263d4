"""The release session: how every command that changes an environment holds it.

`ReleaseSession` is the one lifecycle of deploy, rollback, scale-to-zero and migrate: lock ->
`in_progress` record -> the change (the lock renewed meanwhile, and asserted before each change)
-> final status -> unlock. Whatever happens inside it, the record ends with a final status and
the lock is released when this release still holds it.

A session can span steps (and jobs): `open_session` (`shipline lock acquire`) takes the lock
for a new release id and writes its record; `shipline terraform apply --release-id` checks the
lock is still that release's and records what Terraform changes; `shipline deploy --release-id`
adopts the lock and the record; `end_session` (the workflow's always() clean-up) ends a record
still in_progress and releases the lock. Only the release id passes between steps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from shipline import console
from shipline.errors import EXIT_DAMAGED, EXIT_FAILED, EXIT_REFUSED, ShiplineError, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import TracebackType

    from shipline.config import Environment
    from shipline.release.records import FinalStatus, ReleaseKind, ReleaseRecord
    from shipline.release.stopping import StopSignal
    from shipline.release.store import History, Lock, LockInfo, LockLease
    from shipline.terraform import ResourceChange

# Time allowed for terraform init + plan + apply on top of the deploy's own lock time.
TERRAFORM_SECONDS = 1800.0
# On top of the slowest release: how long a run that died keeps the environment locked after
# its last renewal.
LOCK_MARGIN_SECONDS = 600.0

# The record's `terraform.status`, exactly as stored (schemas/release-record.schema.json).
TerraformStatus = Literal["applying", "applied", "failed", "unchanged"]
# After these, Terraform may have changed something within the release (`applying`: it may
# have stopped part-way without saying so).
TERRAFORM_STARTED: frozenset[TerraformStatus] = frozenset({"applying", "applied", "failed"})


def lock_ttl_seconds(environment: Environment) -> float:
    """Long enough for the slowest release: migration, rollout + verify, and their rollback."""
    migrate = environment.migrate.timeout if environment.migrate else 0.0
    moves = 2 * (environment.wait.timeout + environment.health.timeout)
    return migrate + moves + LOCK_MARGIN_SECONDS


def session_ttl_seconds(environment: Environment) -> float:
    """The lock of a session covers Terraform and the whole deploy after it."""
    return lock_ttl_seconds(environment) + TERRAFORM_SECONDS


@dataclass(frozen=True)
class LockPolicy:
    """What a release does about a lock another release holds: exit 2 at once (the default),
    wait for it to be released (`--wait-for-lock`), or break it on purpose (`--break-lock`,
    recorded in the record's `broke_lock`)."""

    wait_seconds: float = 0.0
    break_lock: bool = False


def wait_for_lock(environment: Environment, policy: LockPolicy, stop: StopSignal) -> None:
    """Before reading the history: the release holding the lock may still change it."""
    from shipline.release.stopping import Interrupted
    from shipline.release.store import Lock

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


def refuse_if_locked(environment: Environment) -> None:
    """Before any change: the history can be read and no other release holds the lock
    (LockedError, exit 2, naming it)."""
    from shipline.release.store import History, Lock

    history = History(environment)
    history.check_reachable()
    Lock(environment).refuse_if_held(history)


def new_record(environment: Environment, kind: ReleaseKind) -> ReleaseRecord:
    """A fresh in_progress record of this run (who, which commit, which workflow run, and the
    commit of the images when the workflow passes it)."""
    from shipline import github
    from shipline.release.records import ReleaseRecord, commit_from, new_release_id

    context = github.run_context()
    return ReleaseRecord(
        release_id=new_release_id(),
        environment=environment.name,
        kind=kind,
        actor=context.actor,
        git_sha=context.git_sha,
        run_url=context.run_url,
        commit=commit_from(os.environ),
    )


class ReleaseSession:
    """One release's hold on its environment; use it as a context manager around the change.

    Entering takes the lock (or renews the one an adopted release already holds, or breaks
    another release's on purpose) and writes the in_progress record; leaving ends a record
    still in_progress as `failed`, naming why, releases the lock, then pings the environment's
    webhook (`notify`) about the ending.
    """

    def __init__(
        self,
        environment: Environment,
        record: ReleaseRecord,
        *,
        adopted: History | None = None,
        break_lock: bool = False,
        report: Callable[[str], None] = console.info,
    ) -> None:
        """`adopted`: the history `record` was read from, when the session continues a release
        opened by an earlier step (a record is only updated on the ETag its reader saw)."""
        from shipline.release.store import History, Lock

        self.environment = environment
        self.record = record
        self.adopted = adopted is not None
        self.break_lock = break_lock
        self.report = report
        self.history: History = adopted or History(environment)
        self.lock: Lock = Lock(environment)
        self.ttl_seconds = lock_ttl_seconds(environment)
        self.lease: LockLease | None = None
        self.recorded = False  # the final status is written in the record

    @property
    def release_id(self) -> str:
        return self.record.release_id

    @property
    def record_uri(self) -> str:
        return self.history.uri(self.release_id)

    def open(self, ttl_seconds: float | None = None) -> LockInfo:
        """Take the lock and write the in_progress record (or, adopted, renew the lock and
        save the record); nothing is left behind when the record cannot be written."""
        from shipline import github

        ttl = ttl_seconds if ttl_seconds is not None else self.ttl_seconds
        if self.adopted:
            held = self.lock.renew(self.release_id, ttl)
            self.save()
            return held
        context = github.run_context()
        if self.break_lock:
            held, broken = self.lock.take_over(
                self.release_id, context.holder, context.run_url, ttl
            )
            if broken is not None:
                self.record.broke_lock = broken.to_dict()
                self.report(f"broke the lock of {self.environment.name}: {broken.describe()}")
        else:
            held = self.lock.acquire(self.release_id, context.holder, context.run_url, ttl)
        try:
            self.history.create(self.record)
        except BaseException:
            self.lock.release(self.release_id)
            raise
        return held

    def __enter__(self) -> ReleaseSession:
        from shipline.release.store import LockLease

        held = self.open()
        self.lease = LockLease(self.lock, held, self.ttl_seconds).start()
        return self

    def assert_held(self) -> None:
        """Before every change: this release still holds the lock (LockLostError otherwise)."""
        if self.lease is not None:
            self.lease.assert_held()

    def save(self) -> None:
        self.history.update(self.record)

    def finish(self, status: FinalStatus, error: str | None = None) -> None:
        """End the record with `status` (see `finish_record`)."""
        finish_record(self.history, self.record, status, error)
        self.recorded = True

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        from shipline.release.store import LockLostError

        if self.lease is not None:
            self.lease.stop()
        try:
            if self.record.status == "in_progress":
                reason = f"stopped by an unexpected error: {error}" if error else "stopped"
                if isinstance(error, LockLostError):  # another release holds it: hands off
                    reason = f"{error.message}; services left as they are"
                self.finish("failed", reason)
        except Exception as exc:
            self.report(f"the release record could not be written: {type(exc).__name__}: {exc}")
        finally:
            self.unlock()
        if self.record.status != "in_progress":
            self.announce()

    def announce(self) -> None:
        """The ping of the ending (after the unlock: a slow receiver holds nothing)."""
        from shipline.release.notify import announce

        announce(
            self.environment,
            self.record,
            self.record_uri if self.recorded else None,
            self.report,
        )

    def unlock(self) -> None:
        try:
            released = self.lock.release(self.release_id)
        except ShiplineError as exc:
            # Our lock expired and another release took it over: theirs stays, our result too.
            self.report(f"note: {exc.message}")
            return
        except Exception as exc:
            self.report(f"the lock could not be released: {exc} (see `shipline lock status`)")
            return
        if released is None:
            self.report(f"note: the lock of {self.environment.name} was already gone")


@dataclass
class Session:
    release_id: str
    record_uri: str
    lock: LockInfo


def open_session(environment: Environment, ttl_seconds: float | None = None) -> Session:
    """Lock the environment for a new release and write its in_progress deploy record; the
    steps after it continue the session by its release id.

    LockedError (exit 2) when another release holds the lock; nothing is written then."""
    refuse_if_locked(environment)
    session = ReleaseSession(environment, new_record(environment, "deploy"))
    held = session.open(
        ttl_seconds if ttl_seconds is not None else session_ttl_seconds(environment)
    )
    return Session(session.release_id, session.record_uri, held)


def adopt(environment: Environment, release_id: str) -> tuple[History, Lock, ReleaseRecord]:
    """The lock and the in_progress record of `release_id`, for the step that continues it.

    LockedError (exit 2) when the lock is not that release's; UsageError when its record is not
    an in_progress deploy of this environment."""
    from shipline.release.store import History, Lock

    history = History(environment)
    lock = Lock(environment)
    lock.require(release_id)
    record = history.get(release_id)
    if record.environment != environment.name or record.kind != "deploy":
        raise UsageError(
            f"release {release_id} is a {record.kind} of {record.environment}, "
            f"not a deploy of {environment.name}"
        )
    if record.status != "in_progress":
        raise UsageError(f"release {release_id} already ended ({record.status})")
    return history, lock, record


def terraform_entry(status: TerraformStatus, changes: Sequence[ResourceChange]) -> dict[str, Any]:
    """The record's `terraform` field: the apply's status and the addresses it changes."""
    return {
        "status": status,
        "changes": [
            {"address": change.address, "type": change.type, "action": change.action}
            for change in changes
        ],
    }


# Registering a task definition changes nothing that runs: a service runs it only once a
# deploy moves it there (and the blueprint keeps old revisions registered, skip_destroy).
RUNS_NOTHING = frozenset({"aws_ecs_task_definition"})


def terraform_changed(record: ReleaseRecord) -> bool:
    """True when Terraform may have changed, within this release, something that runs or
    serves (anything but registering task definitions)."""
    entry = record.terraform or {}
    if entry.get("status") not in TERRAFORM_STARTED:
        return False
    return any(change.get("type") not in RUNS_NOTHING for change in entry.get("changes", []))


def terraform_lines(entry: dict[str, Any] | None) -> list[str]:
    """`aws_x.y: update` lines for messages and summaries."""
    if not entry:
        return []
    return [f"{change['address']}: {change['action']}" for change in entry.get("changes", [])]


def exit_code_after_terraform(record: ReleaseRecord | None, code: int) -> int:
    """Exit 1 and 2 promise the environment as it was. After Terraform changed it within the
    release (more than registering task definitions), a release that refuses or fails has left
    the infrastructure ahead of the services: exit 3, a person must act."""
    if code in {EXIT_FAILED, EXIT_REFUSED} and record is not None and terraform_changed(record):
        return EXIT_DAMAGED
    return code


def changed_note(record: ReleaseRecord) -> str:
    """`; Terraform had already changed 3 resources (a, b, c)` or ``."""
    entry = record.terraform or {}
    if not entry.get("changes") or entry.get("status") not in TERRAFORM_STARTED:
        return ""
    changes = entry.get("changes", [])
    listed = ", ".join(f"{c['address']} ({c['action']})" for c in changes)
    how = "had already changed" if entry.get("status") == "applied" else "may have changed"
    return f"; Terraform {how} {len(changes)} resource(s) in this release: {listed}"


def finish_record(
    history: History, record: ReleaseRecord, status: FinalStatus, error: str | None
) -> ReleaseRecord:
    """End `record` (still in_progress) with `status`; the error also names what Terraform
    changed within the release. Final in memory even when the write fails (which raises)."""
    if error is not None:
        error += changed_note(record)
    record.finish(status, error)
    history.update(record)
    return record


@dataclass
class Ended:
    record: ReleaseRecord | None  # the record as it is now (None: there is none)
    finished_here: bool  # this call ended an in_progress record
    released: LockInfo | None  # the lock removed (None: it was not held by the release)


def end_session(
    environment: Environment,
    release_id: str,
    reason: str,
    report: Callable[[str], None] = console.info,
) -> Ended:
    """Clean-up for a run that stopped before (or inside) the deploy step: a record still
    in_progress ends `failed` with `reason` and what Terraform changed; the lock is released
    when this release still holds it (another release's lock is never touched); the ending
    is pinged (`notify`)."""
    from shipline.release.store import History, Lock

    history = History(environment)
    lock = Lock(environment)
    record: ReleaseRecord | None
    finished = False
    try:
        record = history.get(release_id)
    except UsageError:
        record = None
    if record is not None and record.status == "in_progress":
        finish_record(history, record, "failed", reason)
        finished = True
    released = None
    try:
        held = lock.status()
        if held is not None and held.release_id == release_id:
            released = lock.release(release_id)
    finally:
        if record is not None and finished:  # ended here: pinged even when the unlock fails
            from shipline.release.notify import announce

            announce(environment, record, history.uri(release_id), report)
    return Ended(record, finished, released)


def before_apply(
    environment: Environment, release_id: str, changes: Sequence[ResourceChange]
) -> None:
    """Before `terraform apply`: the lock must still be `release_id`'s (LockedError, exit 2,
    nothing applied, when it is not); renew it for Terraform and the deploy after it, and
    record the changes the apply is about to make (status applying: a crash leaves a trace)."""
    _renew_and_record(environment, release_id, terraform_entry("applying", changes))


def apply_skipped(environment: Environment, release_id: str) -> None:
    """The plan changes nothing, so no `terraform apply`: the lock must still be `release_id`'s
    (renewed for the deploy after it); the record says Terraform left all unchanged."""
    _renew_and_record(environment, release_id, terraform_entry("unchanged", ()))


def _renew_and_record(environment: Environment, release_id: str, entry: dict[str, Any]) -> None:
    from shipline.errors import LockedError
    from shipline.release.store import LockLostError

    history, lock, record = adopt(environment, release_id)
    try:
        lock.renew(release_id, session_ttl_seconds(environment))
    except LockLostError as exc:
        raise LockedError(exc.message) from None
    record.terraform = entry
    history.update(record)


def after_apply(
    environment: Environment, release_id: str, changes: Sequence[ResourceChange], ok: bool
) -> None:
    """After `terraform apply`: record whether it finished (applied) or failed part-way."""
    from shipline.release.store import History

    history = History(environment)
    record = history.get(release_id)
    record.terraform = terraform_entry("applied" if ok else "failed", changes)
    history.update(record)
