"""Release records and the decisions made from them, without AWS.

A record is one release of one environment (its shape is `schemas/release-record.schema.json`);
`rollback_target` decides, from the records alone, which release a rollback returns to, and
`environment_at` what every service ran while that release was live.

Which release is *live* is replayed from the history, oldest first, counting only releases
that succeeded:
- a deploy makes itself live (and sets the task definitions of the services it moved); one
  that moved no service (all left alone) changes nothing;
- a rollback makes the release it returned to (`rolled_back_to`) live again, and abandons
  every deploy between that release and itself: a later rollback never returns to a release
  the environment was rolled back from (unless named with `--to`);
- a scale-to-zero leaves the live release as it is (the task definitions did not change).
Failed, rolled-back and interrupted releases never become live.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, get_args

from shipline.errors import ShiplineError, UsageError

if TYPE_CHECKING:
    from shipline.release.health import HealthResult

# The record's `kind` and `status`, exactly as stored (schemas/release-record.schema.json).
ReleaseKind = Literal["deploy", "rollback", "scale-to-zero", "migrate"]
FinalStatus = Literal["succeeded", "failed", "rolled_back", "rollback_failed", "interrupted"]
ReleaseStatus = Literal["in_progress", FinalStatus]
KINDS: tuple[ReleaseKind, ...] = get_args(ReleaseKind)
FINAL_STATUSES: frozenset[FinalStatus] = frozenset(get_args(FinalStatus))
STATUSES: tuple[ReleaseStatus, ...] = ("in_progress", *get_args(FinalStatus))

RECORD_SCHEMA = "release-record"
LOCK_SCHEMA = "release-lock"


class RecordError(ShiplineError):
    """A record (or lock) that does not fit its schema."""


def utc_timestamp(now: datetime | None = None) -> str:
    """`2026-11-26T07:15:00.123Z`: the form every time in a record or the lock takes."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def new_release_id(now: datetime | None = None) -> str:
    """`20261126T071500Z-1a2b3c`: sorts by time, even within one second.

    The first four hex digits are the fraction of the second (1/65536 s steps), the last two
    are random, so two machines starting in the same instant still get different ids (and if
    they did not, the record's create-only write would refuse the second one).
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    fraction = moment.microsecond * 65536 // 1_000_000
    return f"{moment:%Y%m%dT%H%M%SZ}-{fraction:04x}{secrets.randbelow(256):02x}"


def validate(document: Any, schema_name: str, what: str) -> None:
    """Raise RecordError listing every way `document` misses `schemas/<schema_name>.schema.json`."""
    from shipline import schemas

    problems = schemas.problems(schema_name, document)
    if problems:
        raise RecordError(f"{what} does not fit {schema_name}.schema.json: " + "; ".join(problems))


def _without_none(values: dict[str, Any], keep: Iterable[str]) -> dict[str, Any]:
    """Optional extras are left out when unset; the contract's fields are always written."""
    kept = set(keep)
    return {key: value for key, value in values.items() if key in kept or value is not None}


@dataclass
class ServiceRecord:
    """What a release did to one ECS service."""

    service: str
    task_definition: str
    previous_task_definition: str | None = None
    desired_count: int | None = None
    previous_desired_count: int | None = None
    registered_from: str | None = None
    # RegisterTaskDefinition form of `task_definition`: lets a later rollback register it
    # again when it was deregistered (or deleted) since. Never with a plain secret: those
    # values are replaced by a mask, and `redacted` says where (`container: NAME`).
    task_definition_content: dict[str, Any] | None = None
    redacted: list[str] | None = None

    REQUIRED = ("service", "task_definition", "previous_task_definition", "desired_count")

    def to_dict(self) -> dict[str, Any]:
        """The stored form: `task_definition_content` without its plain secrets."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.task_definition_content is not None:
            from shipline.sensitive import redact_task_definition

            content, found = redact_task_definition(self.task_definition_content)
            values["task_definition_content"] = content
            values["redacted"] = sorted({*(self.redacted or ()), *found}) or None
        return _without_none(values, self.REQUIRED)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServiceRecord:
        # `data` fits the record schema (checked by ReleaseRecord.from_dict): required is there.
        values: dict[str, Any] = {f.name: data.get(f.name) for f in fields(cls)}
        return cls(**values)


@dataclass
class MigrateRecord:
    """The one-off migration task of a deploy, or why the deploy ran none (`skipped`)."""

    task_arn: str | None = None
    task_definition: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.skipped is not None:
            return {"skipped": self.skipped}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "skipped"}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MigrateRecord:
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})


@dataclass
class HealthRecord:
    """One health URL's verdict."""

    url: str
    ok: bool
    status: int | None = None
    attempts: int = 0
    service: str | None = None
    error: str | None = None

    REQUIRED = ("url", "ok", "status", "attempts")

    def to_dict(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return _without_none(values, self.REQUIRED)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HealthRecord:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass(frozen=True)
class CommitRecord:
    """The git commit the release's images were built from, as the workflow passed it."""

    sha: str
    committed_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"sha": self.sha, "committed_at": self.committed_at}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CommitRecord:
        return cls(sha=data["sha"], committed_at=data.get("committed_at"))


@dataclass(frozen=True)
class PhaseRecord:
    """One phase of a release: its name, when it started, how long it took."""

    name: str
    started_at: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "started_at": self.started_at, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PhaseRecord:
        return cls(name=data["name"], started_at=data["started_at"], seconds=data["seconds"])


# What the workflows pass for the commit of the images (build-images knows it; deploy carries it).
COMMIT_SHA_VARIABLE = "SHIPLINE_COMMIT_SHA"
COMMITTED_AT_VARIABLE = "SHIPLINE_COMMITTED_AT"
_COMMIT_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


def commit_from(environ: Mapping[str, str]) -> CommitRecord | None:
    """The record's `commit` from SHIPLINE_COMMIT_SHA and SHIPLINE_COMMITTED_AT (`git log -1
    --format=%cI`, any UTC offset; stored in UTC). None when no commit is given; UsageError
    (exit 2, before any change) when a value is not a commit SHA or a time with its offset."""
    sha = environ.get(COMMIT_SHA_VARIABLE, "").strip().lower()
    when = environ.get(COMMITTED_AT_VARIABLE, "").strip()
    if not sha:
        if when:
            raise UsageError(f"{COMMITTED_AT_VARIABLE} is set but {COMMIT_SHA_VARIABLE} is not")
        return None
    if not _COMMIT_SHA.fullmatch(sha):
        raise UsageError(f"{COMMIT_SHA_VARIABLE}: expected a full git commit SHA (40 hex digits)")
    if not when:
        return CommitRecord(sha)
    try:
        moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise UsageError(
            f"{COMMITTED_AT_VARIABLE}: expected an ISO 8601 time with its UTC offset "
            "(as `git log -1 --format=%cI` prints it)"
        )
    return CommitRecord(sha, utc_timestamp(moment))


@dataclass
class ReleaseRecord:
    """One release of one environment, as stored in the history."""

    release_id: str
    environment: str
    kind: ReleaseKind = "deploy"
    status: ReleaseStatus = "in_progress"
    started_at: str = field(default_factory=utc_timestamp)
    finished_at: str | None = None
    actor: str | None = None
    git_sha: str | None = None
    run_url: str | None = None
    images: dict[str, str] = field(default_factory=dict)
    services: dict[str, ServiceRecord] = field(default_factory=dict)
    migrate: MigrateRecord | None = None
    health: list[HealthRecord] = field(default_factory=list)
    rolled_back_to: str | None = None
    error: str | None = None
    # What `shipline terraform apply --release-id` changed before the deploy step (optional).
    terraform: dict[str, Any] | None = None
    # The lock a rollback broke on purpose (`--break-lock`): its holder, release, times.
    broke_lock: dict[str, Any] | None = None
    # The commit of the images (lead time runs from its time) and the timed phases.
    commit: CommitRecord | None = None
    phases: list[PhaseRecord] = field(default_factory=list)
    # The release of another environment this deploy promoted: {environment, release_id}.
    promoted_from: dict[str, str] | None = None

    OPTIONAL = ("terraform", "broke_lock", "promoted_from")

    def to_dict(self) -> dict[str, Any]:
        optional: dict[str, Any] = {name: getattr(self, name) for name in self.OPTIONAL}
        optional["commit"] = self.commit.to_dict() if self.commit else None
        optional["phases"] = [phase.to_dict() for phase in self.phases] or None
        return {
            "release_id": self.release_id,
            "environment": self.environment,
            "kind": self.kind,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "actor": self.actor,
            "git_sha": self.git_sha,
            "run_url": self.run_url,
            "images": dict(self.images),
            "services": {key: entry.to_dict() for key, entry in self.services.items()},
            "migrate": self.migrate.to_dict() if self.migrate else None,
            "health": [result.to_dict() for result in self.health],
            "rolled_back_to": self.rolled_back_to,
            "error": self.error,
            **{name: value for name, value in optional.items() if value is not None},
        }

    @classmethod
    def from_dict(cls, data: Any, source: str | None = None) -> ReleaseRecord:
        """A record from its stored form; raises RecordError when it does not fit the schema.

        `source` names the document in the error (its S3 key): what it says of itself cannot
        be trusted before it is checked.
        """
        what = source or "release record"
        if not isinstance(data, Mapping):
            raise RecordError(f"{what} is not a release record: not a JSON object")
        validate(data, RECORD_SCHEMA, what)
        return cls(
            release_id=data["release_id"],
            environment=data["environment"],
            kind=data["kind"],
            status=data["status"],
            started_at=data["started_at"],
            finished_at=data["finished_at"],
            actor=data["actor"],
            git_sha=data["git_sha"],
            run_url=data["run_url"],
            images=dict(data["images"]),
            services={k: ServiceRecord.from_dict(v) for k, v in data["services"].items()},
            migrate=MigrateRecord.from_dict(data["migrate"]) if data["migrate"] else None,
            health=[HealthRecord.from_dict(item) for item in data["health"]],
            rolled_back_to=data["rolled_back_to"],
            error=data["error"],
            terraform=data.get("terraform"),
            broke_lock=data.get("broke_lock"),
            commit=CommitRecord.from_dict(data["commit"]) if data.get("commit") else None,
            phases=[PhaseRecord.from_dict(item) for item in data.get("phases", [])],
            promoted_from=data.get("promoted_from"),
        )

    def validate(self) -> None:
        validate(self.to_dict(), RECORD_SCHEMA, f"release record {self.release_id!r}")

    def finish(
        self, status: FinalStatus, error: str | None = None, now: datetime | None = None
    ) -> None:
        """End the release: a final status, the time, and why when it did not succeed."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"not a final status: {status!r}")
        self.status = status
        self.finished_at = utc_timestamp(now)
        self.error = error

    def public_view(self) -> dict[str, Any]:
        """The record without the task definitions' content (it holds the app's plain
        environment variables, which a listing or a JSON result must not print)."""
        document = self.to_dict()
        for entry in document["services"].values():
            entry.pop("task_definition_content", None)
        return document

    @property
    def task_definitions(self) -> dict[str, str]:
        """Service key -> the task definition this release put it on."""
        return {key: entry.task_definition for key, entry in self.services.items()}


def health_records(results: Iterable[HealthResult]) -> list[HealthRecord]:
    """The record's `health`: one entry per health check."""
    return [HealthRecord(**result.to_record()) for result in results]


def chronological(records: Iterable[ReleaseRecord]) -> list[ReleaseRecord]:
    """Oldest first (release ids sort by time)."""
    return sorted(records, key=lambda record: record.release_id)


def newest_first(records: Iterable[ReleaseRecord]) -> list[ReleaseRecord]:
    return sorted(records, key=lambda record: record.release_id, reverse=True)


@dataclass(frozen=True)
class ServiceState:
    """What one service ran while a release was live, and which record says so."""

    service: str
    task_definition: str
    desired_count: int | None
    content: dict[str, Any] | None
    recorded_by: str
    # Where `content` had plain secrets left out: such a copy cannot be registered again.
    redacted: tuple[str, ...] = ()


@dataclass(frozen=True)
class Replay:
    """The history replayed, oldest first (see the module's docstring for the rules)."""

    live: ReleaseRecord | None
    # Service key -> what it runs now, as far as the history knows.
    state: dict[str, ServiceState]
    # Release id -> every service's state while that deploy was live.
    snapshots: dict[str, dict[str, ServiceState]]
    abandoned: frozenset[str]


def _states(record: ReleaseRecord) -> dict[str, ServiceState]:
    return {
        key: ServiceState(
            service=entry.service,
            task_definition=entry.task_definition,
            desired_count=entry.desired_count,
            content=entry.task_definition_content,
            recorded_by=record.release_id,
            redacted=tuple(entry.redacted or ()),
        )
        for key, entry in record.services.items()
    }


def replay(records: Iterable[ReleaseRecord]) -> Replay:
    ordered = chronological(records)
    by_id = {record.release_id: record for record in ordered}
    live: ReleaseRecord | None = None
    state: dict[str, ServiceState] = {}
    snapshots: dict[str, dict[str, ServiceState]] = {}
    abandoned: set[str] = set()
    for record in ordered:
        if record.status != "succeeded":
            continue
        if record.kind == "deploy" and record.services:  # one that moved nothing: not live
            live = record
            state = {**state, **_states(record)}
            snapshots[record.release_id] = state
            abandoned.discard(record.release_id)
        elif record.kind == "rollback" and record.rolled_back_to in by_id:
            live = by_id[record.rolled_back_to]
            # What the rollback really set (a re-registered copy has a new ARN) wins.
            state = {**snapshots.get(live.release_id, {}), **_states(record)}
            abandoned.discard(live.release_id)
            abandoned.update(
                other.release_id
                for other in ordered
                if other.kind == "deploy" and live.release_id < other.release_id < record.release_id
            )
    return Replay(live=live, state=state, snapshots=snapshots, abandoned=frozenset(abandoned))


def live_release(records: Iterable[ReleaseRecord]) -> ReleaseRecord | None:
    return replay(records).live


def rollback_target(
    records: Iterable[ReleaseRecord],
    to: str | None = None,
    current: Mapping[str, str] | None = None,
) -> ReleaseRecord:
    """The release a rollback returns to.

    `to` names it (it must be a deploy that succeeded). Otherwise: the newest succeeded deploy
    older than the live release that was never rolled back from. When `current` (service key ->
    the task definition the service runs now) shows the services are NOT where the history says
    (a deploy left them half-moved: its rollback failed, it was interrupted, rollback was off),
    the live release itself is the target: the first step back is to the last release that
    worked. Raises UsageError (exit 2) when there is no such release.
    """
    history = chronological(records)
    if to is not None:
        return _named_target(history, to)
    replayed = replay(history)
    live = replayed.live
    if live is None:
        raise UsageError("nothing to roll back to: no release has succeeded in this environment")
    if current is not None and _moved_away(replayed.state, current):
        return live
    for record in reversed(history):
        if (
            record.release_id < live.release_id
            and record.kind == "deploy"
            and record.status == "succeeded"
            and record.release_id not in replayed.abandoned
        ):
            return record
    raise UsageError(
        f"nothing to roll back to: no succeeded release before the live one {live.release_id}"
    )


def _named_target(history: list[ReleaseRecord], to: str) -> ReleaseRecord:
    named = next((record for record in history if record.release_id == to), None)
    if named is None:
        raise UsageError(f"no release {to} in this environment's history (see `shipline history`)")
    if named.kind == "rollback" and named.rolled_back_to:
        raise UsageError(
            f"release {to} is a rollback to {named.rolled_back_to}: use --to {named.rolled_back_to}"
        )
    if named.kind != "deploy" or named.status != "succeeded":
        raise UsageError(
            f"release {to} is a {named.kind} that ended {named.status}: "
            "only a deploy that succeeded can be returned to"
        )
    return named


def _moved_away(state: Mapping[str, ServiceState], current: Mapping[str, str]) -> bool:
    return any(
        key in current and current[key] != known.task_definition for key, known in state.items()
    )


def environment_at(records: Iterable[ReleaseRecord], release_id: str) -> dict[str, ServiceState]:
    """Service key -> what it ran while `release_id` was live: the whole environment, not only
    the services that release moved (a deploy moves some; a rollback puts back all of them).

    A service no record up to that release moved ran, then, what the first later deploy that
    moved it found (its `previous_task_definition`).
    """
    history = chronological(records)
    snapshot = dict(replay(history).snapshots.get(release_id, {}))
    for record in history:
        if record.release_id <= release_id or record.kind != "deploy":
            continue
        for key, entry in record.services.items():
            if key not in snapshot and entry.previous_task_definition:
                snapshot[key] = ServiceState(
                    service=entry.service,
                    task_definition=entry.previous_task_definition,
                    desired_count=None,
                    content=None,
                    recorded_by=record.release_id,
                )
    return snapshot


def restored_desired_count(current: int, recorded: int | None) -> int:
    """A rollback keeps the count a service runs now (autoscaling may have set it), unless the
    service is stopped (0 tasks, e.g. after scale-to-zero): then the count recorded for it."""
    if current > 0 or not recorded:
        return current
    return recorded


def restore_source(
    described_status: str | None,
    recorded_content: Mapping[str, Any] | None,
    redacted: Iterable[str] = (),
) -> str:
    """How to put a service back on a recorded task definition.

    "use": it is ACTIVE, point the service at it. "copy": it was deregistered (INACTIVE, which
    a service can no longer be moved to) and can still be described: register a copy.
    "content": it is gone (deleted): register the content the record kept. "redacted": it is
    gone and the record's copy lacks the plain secrets it had (never stored): registering it
    would start the app without them. "missing": none of these. The rollback is refused before
    any change on "redacted" and "missing".
    """
    if described_status == "ACTIVE":
        return "use"
    if described_status is not None:
        return "copy"
    if recorded_content and list(redacted):
        return "redacted"
    if recorded_content:
        return "content"
    return "missing"
