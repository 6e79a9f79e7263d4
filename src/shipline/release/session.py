"""A release session that spans steps (and jobs): lock and record first, then Terraform, then
the deploy, each step naming the session by its release id.

`open_session` takes the environment lock for a new release id and writes its `in_progress`
record before anything changes; `shipline terraform apply --release-id` checks the lock is still
that release's and records what Terraform changes; `shipline deploy --release-id` adopts the
lock and the record; `end_session` (the workflow's always() clean-up) ends a record still
in_progress and releases the lock. Only the release id passes between steps, never a process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from shipline.errors import EXIT_DAMAGED, EXIT_FAILED, EXIT_REFUSED, UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from shipline.config import Environment
    from shipline.release.history import History, Lock, LockInfo
    from shipline.release.records import FinalStatus, ReleaseRecord
    from shipline.terraform import ResourceChange

# Time allowed for terraform init + plan + apply on top of the deploy's own lock time.
TERRAFORM_SECONDS = 1800.0

# The record's `terraform.status`, exactly as stored (schemas/release-record.schema.json).
TerraformStatus = Literal["applying", "applied", "failed", "unchanged"]
# After these, Terraform may have changed something within the release (`applying`: it may
# have stopped part-way without saying so).
TERRAFORM_STARTED: frozenset[TerraformStatus] = frozenset({"applying", "applied", "failed"})


def session_ttl_seconds(environment: Environment) -> float:
    """The lock of a session covers Terraform and the whole deploy after it."""
    from shipline.release.deploy import lock_ttl_seconds

    return lock_ttl_seconds(environment) + TERRAFORM_SECONDS


@dataclass
class Session:
    release_id: str
    record_uri: str
    lock: LockInfo


def open_session(environment: Environment, ttl_seconds: float | None = None) -> Session:
    """Lock the environment for a new release and write its in_progress deploy record.

    LockedError (exit 2) when another release holds the lock; nothing is written then."""
    from shipline import github
    from shipline.release.history import History, Lock
    from shipline.release.records import ReleaseRecord, new_release_id

    history = History(environment)
    lock = Lock(environment)
    history.check_reachable()
    lock.refuse_if_held(history)
    context = github.run_context()
    release_id = new_release_id()
    taken = lock.acquire(
        release_id,
        context.holder,
        context.run_url,
        ttl_seconds if ttl_seconds is not None else session_ttl_seconds(environment),
    )
    record = ReleaseRecord(
        release_id=release_id,
        environment=environment.name,
        kind="deploy",
        actor=context.actor,
        git_sha=context.git_sha,
        run_url=context.run_url,
    )
    try:
        history.create(record)
    except BaseException:
        lock.release(release_id)
        raise
    return Session(release_id, history.uri(release_id), taken)


def adopt(environment: Environment, release_id: str) -> tuple[History, Lock, ReleaseRecord]:
    """The lock and the in_progress record of `release_id`, for the step that continues it.

    LockedError (exit 2) when the lock is not that release's; UsageError when its record is not
    an in_progress deploy of this environment."""
    from shipline.release.history import History, Lock

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
    history: History, record: ReleaseRecord, status: FinalStatus, error: str
) -> ReleaseRecord:
    """End `record` (still in_progress) with `status`, naming what Terraform changed."""
    record.finish(status, error + changed_note(record))
    history.update(record)
    return record


@dataclass
class Ended:
    record: ReleaseRecord | None  # the record as it is now (None: there is none)
    finished_here: bool  # this call ended an in_progress record
    released: LockInfo | None  # the lock removed (None: it was not held by the release)


def end_session(environment: Environment, release_id: str, reason: str) -> Ended:
    """Clean-up for a run that stopped before (or inside) the deploy step: a record still
    in_progress ends `failed` with `reason` and what Terraform changed; the lock is released
    when this release still holds it (another release's lock is never touched)."""
    from shipline.release.history import History, Lock

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
    held = lock.status()
    released = None
    if held is not None and held.release_id == release_id:
        released = lock.release(release_id)
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
    from shipline.release.history import LockLostError

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
    from shipline.release.history import History

    history = History(environment)
    record = history.get(release_id)
    record.terraform = terraform_entry("applied" if ok else "failed", changes)
    history.update(record)
