"""Release records and the environment lock, in S3, written only with conditional requests.

Layout under the environment's history location (`<history>/<environment>/`):
- `<release_id>.json`: one record per release. Created with `If-None-Match: *` (never
  overwrites another record), then updated only with `If-Match` on the ETag of this process's
  own last write (a change made by anyone else in between makes the update fail, loudly).
- `lock.json`: the one release allowed to change the environment. Created with
  `If-None-Match: *`; once expired, taken over with `If-Match` on the expired lock's ETag, so
  of two machines racing for it exactly one wins; released with a conditional delete.
"""

from __future__ import annotations

import builtins
import json
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shipline.errors import (
    EXIT_DAMAGED,
    EXIT_REFUSED,
    LockedError,
    PreflightError,
    ShiplineError,
    UsageError,
)
from shipline.release.records import (
    LOCK_SCHEMA,
    RecordError,
    ReleaseRecord,
    parse_timestamp,
    utc_timestamp,
    validate,
)

if TYPE_CHECKING:
    from shipline.config import Environment

LOCK_NAME = "lock.json"
_RECORD_NAME = re.compile(r"(?P<release_id>[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6})\.json")
# Two answers mean "someone else wrote first": a failed precondition, or (S3 only) a
# conditional write racing another one on the same key.
_LOST_RACE = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
_MISSING = {"NoSuchKey", "404", "NotFound"}
_READ_WORKERS = 8


class RecordConflictError(ShiplineError):
    """A record write refused by its condition: another writer got there first."""


class LockLostError(ShiplineError):
    """A running release no longer holds the environment lock: it must stop changing it."""

    exit_code = EXIT_DAMAGED

    def __init__(self, environment: str, release_id: str, holder: LockInfo | None) -> None:
        self.holder = holder
        now = f"{holder.describe()} holds it now" if holder else "nobody holds it now"
        super().__init__(
            f"release {release_id} lost the lock of {environment} ({now}); "
            "it stopped changing the environment"
        )


@dataclass(frozen=True)
class Unreadable:
    """An object under the history prefix that is not a record of this environment."""

    uri: str
    reason: str  # our own words: nothing of the object's content is repeated


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _is_client_error(exc: Exception, codes: set[str]) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(exc, ClientError) and _error_code(exc) in codes


class _Store:
    """One environment's history location: bucket, key prefix, and the S3 client."""

    def __init__(self, environment: Environment, s3: Any = None) -> None:
        self.environment = environment
        self.bucket = environment.history_bucket
        self.prefix = environment.history_prefix
        self._s3 = s3

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            from shipline import aws

            self._s3 = aws.client("s3", self.environment.region)
        return self._s3

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def uri(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{name}"

    def read(self, name: str) -> tuple[dict[str, Any], str] | None:
        """The JSON document `name` and its ETag, or None when there is none."""
        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=self.prefix + name)
        except Exception as exc:
            if _is_client_error(exc, _MISSING):
                return None
            raise
        body = answer["Body"].read()
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise RecordError(f"{self.uri(name)} is not JSON: {exc}") from exc
        return document, answer["ETag"]

    def write(self, name: str, document: dict[str, Any], **condition: str) -> str:
        """Write `document` as `name` under `condition` (IfNoneMatch / IfMatch); its new ETag."""
        body = json.dumps(document, indent=2).encode("utf-8") + b"\n"
        answer = self.s3.put_object(
            Bucket=self.bucket,
            Key=self.prefix + name,
            Body=body,
            ContentType="application/json",
            **condition,
        )
        etag: str = answer["ETag"]
        return etag


class History:
    """The release records of one environment."""

    def __init__(self, environment: Environment, s3: Any = None) -> None:
        self._store = _Store(environment, s3)
        self.environment = environment
        # release_id -> ETag of the last version this process wrote or read.
        self._etags: dict[str, str] = {}
        # What the last `list()` skipped, by S3 key.
        self.unreadable: list[Unreadable] = []

    @property
    def location(self) -> str:
        """`s3://bucket/prefix/<environment>/`."""
        return self._store.location

    def uri(self, release_id: str) -> str:
        """Where the record of `release_id` lives (for summaries and messages)."""
        return self._store.uri(f"{release_id}.json")

    def check_reachable(self) -> None:
        """Raise PreflightError unless the history location can be listed."""
        from botocore.exceptions import BotoCoreError, ClientError

        from shipline.aws import unusable

        try:
            self._store.s3.list_objects_v2(
                Bucket=self._store.bucket, Prefix=self._store.prefix, MaxKeys=1
            )
        except ClientError as exc:
            message = exc.response.get("Error", {}).get("Message") or _error_code(exc)
            why = f"{_error_code(exc)}: {message}"
            raise PreflightError(
                unusable(exc) or f"release history {self.location} is not reachable: {why}"
            ) from exc
        except BotoCoreError as exc:
            raise PreflightError(
                unusable(exc) or f"release history {self.location} is not reachable: {exc}"
            ) from exc

    def create(self, record: ReleaseRecord) -> str:
        """Write a new record; never replaces one. Returns its ETag."""
        self._check_environment(record)
        record.validate()
        try:
            etag = self._store.write(f"{record.release_id}.json", record.to_dict(), IfNoneMatch="*")
        except Exception as exc:
            if _is_client_error(exc, _LOST_RACE):
                raise RecordConflictError(
                    f"a release record {self.uri(record.release_id)} already exists; "
                    "records are never overwritten",
                    exit_code=EXIT_REFUSED,
                ) from exc
            raise
        self._etags[record.release_id] = etag
        return etag

    def update(self, record: ReleaseRecord) -> str:
        """Replace a record this process created (or read), only if nobody changed it since."""
        self._check_environment(record)
        record.validate()
        etag = self._etags.get(record.release_id)
        if etag is None:
            raise RecordError(
                f"release record {record.release_id} was not created or read here: "
                "it can only be updated on its own ETag"
            )
        try:
            new_etag = self._store.write(
                f"{record.release_id}.json", record.to_dict(), IfMatch=etag
            )
        except Exception as exc:
            if _is_client_error(exc, _LOST_RACE | _MISSING):
                raise RecordConflictError(
                    f"release record {self.uri(record.release_id)} was changed or removed by "
                    "someone else since this release wrote it; not overwritten"
                ) from exc
            raise
        self._etags[record.release_id] = new_etag
        return new_etag

    def get(self, release_id: str) -> ReleaseRecord:
        """The record of `release_id`; UsageError (exit 2) when there is none, RecordError when
        the object stored under its key is not that release's record (see `_accept`)."""
        record = self._read(release_id)
        if record is None:
            raise UsageError(f"no release {release_id} in {self.location}")
        return record

    def _read(self, release_id: str) -> ReleaseRecord | None:
        uri = self.uri(release_id)
        try:
            found = self._store.read(f"{release_id}.json")
        except RecordError:
            raise RecordError(f"{uri} is not a release record: not JSON") from None
        if found is None:
            return None
        document, etag = found
        record = self._accept(release_id, document, uri)
        self._etags[release_id] = etag
        return record

    def _accept(self, release_id: str, document: Any, uri: str) -> ReleaseRecord:
        """The record, only when its key, `release_id` and `environment` agree."""
        try:
            record = ReleaseRecord.from_dict(document, uri)
        except RecordError:
            raise RecordError(
                f"{uri} is not a release record: it does not fit release-record.schema.json"
            ) from None
        if record.release_id != release_id:
            raise RecordError(
                f"{uri} holds release {record.release_id}, not {release_id}: a record is "
                "accepted only under its own key"
            )
        if record.environment != self.environment.name:
            raise RecordError(
                f"{uri} is a record of environment {record.environment!r}, "
                f"not {self.environment.name!r}"
            )
        return record

    def release_ids(self) -> list[str]:
        """Every release id of the environment, newest first (one listing, no reads)."""
        ids = []
        paginator = self._store.s3.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self._store.bucket, Prefix=self._store.prefix, Delimiter="/"
        )
        for page in pages:
            for entry in page.get("Contents", []):
                name = entry["Key"][len(self._store.prefix) :]
                match = _RECORD_NAME.fullmatch(name)
                if match:
                    ids.append(match["release_id"])
        return sorted(ids, reverse=True)

    def list(self, limit: int | None = None) -> list[ReleaseRecord]:
        """The records, newest first; at most `limit` keys are read (concurrently).

        An object that is not a record of this environment (not JSON, not fitting the schema,
        under another release's key, naming another environment) is skipped, never trusted,
        and listed in `self.unreadable` by its S3 key: one bad object blocks nothing.
        """
        ids = self.release_ids()
        if limit is not None:
            ids = ids[: max(limit, 0)]
        return self.read(ids)

    def read(self, ids: Sequence[str]) -> builtins.list[ReleaseRecord]:
        """The records of `ids` (in that order), read concurrently; what is not a record of
        this environment is skipped and listed in `self.unreadable` (see `list`)."""
        self.unreadable = []
        if not ids:
            return []

        def one(release_id: str) -> ReleaseRecord | Unreadable | None:
            try:
                return self._read(release_id)
            except RecordError as exc:
                uri = self.uri(release_id)
                return Unreadable(uri, exc.message.removeprefix(uri).strip())

        with ThreadPoolExecutor(max_workers=min(_READ_WORKERS, len(ids))) as pool:
            found = list(pool.map(one, ids))
        self.unreadable = [item for item in found if isinstance(item, Unreadable)]
        return [item for item in found if isinstance(item, ReleaseRecord)]

    def _check_environment(self, record: ReleaseRecord) -> None:
        if record.environment != self.environment.name:
            raise RecordError(
                f"release record {record.release_id} is for environment "
                f"{record.environment!r}, not {self.environment.name!r}"
            )


@dataclass(frozen=True)
class LockInfo:
    """Who holds an environment's lock, and until when."""

    holder: str
    release_id: str
    run_url: str | None
    acquired_at: str
    expires_at: str
    etag: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "release_id": self.release_id,
            "run_url": self.run_url,
            "acquired_at": self.acquired_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], etag: str | None = None) -> LockInfo:
        validate(data, LOCK_SCHEMA, "the environment lock")
        return cls(
            holder=data["holder"],
            release_id=data["release_id"],
            run_url=data["run_url"],
            acquired_at=data["acquired_at"],
            expires_at=data["expires_at"],
            etag=etag,
        )

    def expired(self, now: datetime | None = None) -> bool:
        return parse_timestamp(self.expires_at) <= (now or datetime.now(UTC))

    def describe(self) -> str:
        """`release R by HOLDER since T (expires E), RUN_URL`: for messages."""
        text = (
            f"release {self.release_id} by {self.holder} since {self.acquired_at} "
            f"(expires {self.expires_at})"
        )
        return f"{text}, {self.run_url}" if self.run_url else text


def _wanted_lock(
    release_id: str, holder: str, run_url: str | None, ttl_seconds: float, moment: datetime
) -> LockInfo:
    """The lock `release_id` takes at `moment`, checked against the lock's schema."""
    wanted = LockInfo(
        holder=holder,
        release_id=release_id,
        run_url=run_url,
        acquired_at=utc_timestamp(moment),
        expires_at=utc_timestamp(moment + timedelta(seconds=ttl_seconds)),
    )
    validate(wanted.to_dict(), LOCK_SCHEMA, "the environment lock")
    return wanted


class Lock:
    """The environment lock: at most one release changes an environment at a time."""

    def __init__(self, environment: Environment, s3: Any = None) -> None:
        self._store = _Store(environment, s3)
        self.environment = environment

    @property
    def uri(self) -> str:
        return self._store.uri(LOCK_NAME)

    def status(self) -> LockInfo | None:
        """The lock as stored now (expired or not), or None when nobody holds it."""
        found = self._store.read(LOCK_NAME)
        if found is None:
            return None
        document, etag = found
        return LockInfo.from_dict(document, etag)

    def acquire(
        self,
        release_id: str,
        holder: str,
        run_url: str | None = None,
        ttl_seconds: float = 3600.0,
        now: datetime | None = None,
    ) -> LockInfo:
        """Take the lock for `release_id`, or raise LockedError (exit 2) naming who holds it.

        A lock past its `expires_at` is taken over, conditionally on its ETag: when two take
        it over at once, one of them wins and the other is told who did.
        """
        moment = now or datetime.now(UTC)
        wanted = _wanted_lock(release_id, holder, run_url, ttl_seconds, moment)
        # Two rounds: the lock may be released between our failed create and our read.
        for _ in range(2):
            try:
                etag = self._store.write(LOCK_NAME, wanted.to_dict(), IfNoneMatch="*")
                return LockInfo(**{**wanted.to_dict(), "etag": etag})
            except Exception as exc:
                if not _is_client_error(exc, _LOST_RACE):
                    raise
            held = self.status()
            if held is None:
                continue
            if not held.expired(moment):
                raise self._locked(held)
            taken = self._replace(held, wanted)
            if taken is not None:
                return taken
            winner = self.status()
            if winner is not None:
                raise self._locked(winner)
        raise LockedError(f"environment {self.environment.name}: the lock is contended; try again")

    def renew(self, release_id: str, ttl_seconds: float, now: datetime | None = None) -> LockInfo:
        """Push `release_id`'s lock's expiry to now + ttl, conditionally on the lock's ETag.

        LockLostError (exit 3 by default) when another release holds the lock, or nobody
        does: the caller has lost the environment and must stop changing it.
        """
        held = self.status()
        if held is None or held.release_id != release_id:
            raise LockLostError(self.environment.name, release_id, held)
        moment = now or datetime.now(UTC)
        renewed = LockInfo(
            holder=held.holder,
            release_id=release_id,
            run_url=held.run_url,
            acquired_at=held.acquired_at,
            expires_at=utc_timestamp(moment + timedelta(seconds=ttl_seconds)),
        )
        taken = self._replace(held, renewed)
        if taken is None:
            raise LockLostError(self.environment.name, release_id, self.status())
        return taken

    def _replace(self, held: LockInfo, wanted: LockInfo) -> LockInfo | None:
        """Write `wanted` over `held`, only if the lock is still exactly `held` (its ETag);
        None when someone changed or removed it first."""
        try:
            etag = self._store.write(LOCK_NAME, wanted.to_dict(), IfMatch=held.etag or "")
        except Exception as exc:
            if not _is_client_error(exc, _LOST_RACE | _MISSING):
                raise
            return None
        return LockInfo(**{**wanted.to_dict(), "etag": etag})

    def require(self, release_id: str) -> LockInfo:
        """The lock as stored, when `release_id` holds it; LockedError (exit 2) otherwise."""
        held = self.status()
        if held is None or held.release_id != release_id:
            who = held.describe() if held is not None else "nobody"
            raise LockedError(
                f"environment {self.environment.name}: release {release_id} does not hold the "
                f"lock (held by {who}); nothing changed by this step"
            )
        return held

    def take_over(
        self,
        release_id: str,
        holder: str,
        run_url: str | None = None,
        ttl_seconds: float = 3600.0,
    ) -> tuple[LockInfo, LockInfo | None]:
        """Take the lock even when another release holds it (a person's decision).

        Returns the new lock and the one it replaced (None when the lock was free). The
        replaced lock is overwritten only on its own ETag: if it changes meanwhile, the
        caller is told who holds it now (LockedError) instead of breaking a lock unseen.
        """
        held = self.status()
        if held is None:
            return self.acquire(release_id, holder, run_url, ttl_seconds), None
        moment = datetime.now(UTC)
        taken = self._replace(held, _wanted_lock(release_id, holder, run_url, ttl_seconds, moment))
        if taken is None:
            raise LockedError(
                f"environment {self.environment.name}: the lock changed while it was being "
                "broken; left in place (see `shipline lock status`)"
            )
        return taken, held

    def wait_until_free(
        self,
        timeout: float,
        poll: float,
        report: Callable[[str], None],
        stop_check: Callable[[], None] = lambda: None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Return once the lock is free or expired; LockedError when `timeout` s pass first.

        A progress line names the holder on every poll; `stop_check` raises to give up early
        (a cancelled run).
        """
        deadline = time.monotonic() + timeout
        while True:
            held = self.status()
            if held is None or held.expired():
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._locked(held)
            report(
                f"waiting for the lock of {self.environment.name} ({int(left)} s left): "
                f"{held.describe()}"
            )
            stop_check()
            sleep(min(poll, max(left, 0.0)))
            stop_check()

    def release(self, release_id: str | None = None) -> LockInfo | None:
        """Remove the lock; returns what was removed (None when there was no lock).

        With `release_id`, only that release's lock is removed: a lock held by another release
        (for instance one that took over after ours expired) is left in place and LockedError
        is raised. Without it, whoever holds the lock loses it (a person's decision).
        """
        held = self.status()
        if held is None:
            return None
        if release_id is not None and held.release_id != release_id:
            raise LockedError(
                f"environment {self.environment.name}: the lock is held by "
                f"{held.describe()}, not by release {release_id}; left in place"
            )
        try:
            self._store.s3.delete_object(
                Bucket=self._store.bucket, Key=self._store.prefix + LOCK_NAME, IfMatch=held.etag
            )
        except Exception as exc:
            if _is_client_error(exc, _MISSING):
                return held
            if _is_client_error(exc, _LOST_RACE):
                raise LockedError(
                    f"environment {self.environment.name}: the lock changed while it was "
                    "being released; left in place (see `shipline lock status`)"
                ) from exc
            raise
        return held

    def refuse_if_held(self, history: History | None = None) -> None:
        """LockedError (exit 2) when a release holds the lock and it has not expired."""
        held = self.status()
        if held is not None and not held.expired():
            raise self._locked(held, history)

    def _locked(self, held: LockInfo, history: History | None = None) -> LockedError:
        # A lock that has not expired is released only with --force: name the command that works.
        force = "" if held.expired() else " --force"
        return LockedError(
            f"environment {self.environment.name} is locked by {held.describe()}"
            f"{_record_state(held.release_id, history)}; wait for it, or "
            f"`shipline lock release -e {self.environment.name}{force}` if that run is gone"
        )


class LockLease:
    """A running release's hold on the lock: renewed in the background, each renewal a write
    conditional on the ETag of this release's own last write (never on whatever is stored
    now), and asserted before every change. Once a renewal fails, the lock is lost for good:
    `assert_held` raises LockLostError naming who holds it now.
    """

    def __init__(self, lock: Lock, held: LockInfo, ttl_seconds: float) -> None:
        import threading

        self.lock = lock
        self.held = held
        self.ttl_seconds = ttl_seconds
        self.lost: LockLostError | None = None
        self._guard = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def interval(self) -> float:
        """Renew well before expiry: a quarter of the lifetime, at most every minute."""
        return max(1.0, min(60.0, self.ttl_seconds / 4))

    def renew(self) -> LockInfo:
        with self._guard:
            if self.lost is not None:
                raise self.lost
            moment = datetime.now(UTC)
            renewed = LockInfo(
                **{
                    **self.held.to_dict(),
                    "expires_at": utc_timestamp(moment + timedelta(seconds=self.ttl_seconds)),
                }
            )
            store = self.lock._store
            try:
                etag = store.write(LOCK_NAME, renewed.to_dict(), IfMatch=self.held.etag or "")
            except Exception as exc:
                if not _is_client_error(exc, _LOST_RACE | _MISSING):
                    raise
                self.lost = LockLostError(
                    self.lock.environment.name, self.held.release_id, self.lock.status()
                )
                raise self.lost from exc
            self.held = LockInfo(**{**renewed.to_dict(), "etag": etag})
            return self.held

    def assert_held(self) -> None:
        """Before a change: renew (which proves ownership), or raise LockLostError."""
        self.renew()

    def start(self) -> LockLease:
        import threading

        def keep_renewing() -> None:
            while not self._stopped.wait(self.interval):
                try:
                    self.renew()
                except LockLostError:
                    return
                except Exception:
                    continue

        self._thread = threading.Thread(target=keep_renewing, name="lock-lease", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _record_state(release_id: str, history: History | None) -> str:
    """`; that release is in_progress`: what the holder's record says, when it can be read."""
    if history is None:
        return ""
    try:
        return f"; that release is {history.get(release_id).status}"
    except Exception:  # the message is best effort: the lock alone decides the refusal
        return "; that release has no readable record"
