"""The four delivery figures (DORA) of one environment, from its release records alone.

The definitions (docs/insights.md says the same, for people):
- a *deployment* is a release of kind `deploy` that succeeded and moved at least one service;
- an *attempt* is a deployment, or a `deploy` that ended failed, rolled_back or rollback_failed
  (an interrupted one was stopped on purpose: neither an attempt nor a failure);
- a *failure* is a `deploy` that ended failed, rolled_back or rollback_failed, or a deployment a
  later manual rollback abandoned (`records.replay`: it returned to a release before it);
- an *incident* starts when the first failure ends and is *restored* when the next release that
  succeeded and is not itself a failure ends (a deployment or a rollback); failures in between
  belong to the same incident;
- *lead time for changes* runs from the commit time of a deployment's images (`commit`) to the
  end of the deployment; deployments whose record has no commit time are counted apart.

A release counts where it ended (`finished_at`); releases still in_progress count nowhere. The
figures cover the window [since, until), week by week (weeks start Monday 00:00 UTC). They need
some history before the window (`read_history` says how much): the releases rollbacks returned
to, and enough to know whether a failure in the window began a new incident.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shipline.errors import UsageError
from shipline.release.records import (
    ReleaseRecord,
    chronological,
    parse_timestamp,
    replay,
    utc_timestamp,
)

if TYPE_CHECKING:
    from shipline.release.store import History, Unreadable

FAILED_STATUSES = frozenset({"failed", "rolled_back", "rollback_failed"})
# A `promote` will count as a deployment once it exists: it changes what runs.
DEPLOYMENT_KINDS = frozenset({"deploy"})
WEEK = timedelta(days=7)
_SINCE = re.compile(r"(?P<count>[0-9]{1,4})(?P<unit>[dw])")


def window_start(since: str, now: datetime) -> datetime:
    """`30d`, `8w` (back from `now`) or a date `2026-11-01` (00:00 UTC); UsageError otherwise."""
    text = since.strip()
    match = _SINCE.fullmatch(text)
    if match:
        days = int(match["count"]) * (7 if match["unit"] == "w" else 1)
        if days < 1:
            raise UsageError(f"--since {since}: expected at least 1 day")
        return now - timedelta(days=days)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--since {since}: expected a number of days or weeks (30d, 8w) or a date (2026-11-01)"
        ) from None
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if start >= now:
        raise UsageError(f"--since {since}: the date is not in the past")
    return start


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the week `moment` falls in."""
    day = moment.astimezone(UTC).date() - timedelta(days=moment.astimezone(UTC).weekday())
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def ended_at(record: ReleaseRecord) -> datetime | None:
    return parse_timestamp(record.finished_at) if record.finished_at else None


def is_deployment(record: ReleaseRecord) -> bool:
    return (
        record.kind in DEPLOYMENT_KINDS
        and record.status == "succeeded"
        and bool(record.services)
        and record.finished_at is not None
    )


def failures(records: Iterable[ReleaseRecord]) -> frozenset[str]:
    """The release ids of every failure in `records` (the whole history)."""
    ordered = chronological(records)
    abandoned = replay(ordered).abandoned
    return frozenset(
        record.release_id
        for record in ordered
        if record.kind in DEPLOYMENT_KINDS
        and record.finished_at is not None
        and (
            record.status in FAILED_STATUSES
            or (is_deployment(record) and record.release_id in abandoned)
        )
    )


def restores_service(record: ReleaseRecord, failed: frozenset[str]) -> bool:
    """A release that ends an incident: it succeeded, changed what runs, and is no failure."""
    if record.status != "succeeded" or record.release_id in failed:
        return False
    return is_deployment(record) or record.kind == "rollback"


@dataclass(frozen=True)
class Incident:
    """From the end of the first failure to the end of the release that restored service."""

    failed_release: str
    started_at: datetime
    restored_by: str | None = None
    restored_at: datetime | None = None

    @property
    def seconds(self) -> float | None:
        if self.restored_at is None:
            return None
        return (self.restored_at - self.started_at).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {
            "failed_release": self.failed_release,
            "started_at": utc_timestamp(self.started_at),
            "restored_by": self.restored_by,
            "restored_at": utc_timestamp(self.restored_at) if self.restored_at else None,
            "seconds": self.seconds,
        }


def incidents(records: Iterable[ReleaseRecord]) -> list[Incident]:
    """Every incident of the history, oldest first; the last may still be open."""
    ordered = [record for record in chronological(records) if record.finished_at is not None]
    failed = failures(ordered)
    found: list[Incident] = []
    current: Incident | None = None
    for record in ordered:
        finished = parse_timestamp(str(record.finished_at))
        if record.release_id in failed:
            if current is None:
                current = Incident(record.release_id, finished)
        elif current is not None and restores_service(record, failed):
            found.append(
                Incident(current.failed_release, current.started_at, record.release_id, finished)
            )
            current = None
    if current is not None:
        found.append(current)
    return found


@dataclass(frozen=True)
class Figures:
    """The four figures over [start, end), with the counts behind them."""

    start: datetime
    end: datetime
    deployments: int
    attempts: int
    failures: int
    lead_times: tuple[float, ...]  # seconds, one per deployment with a commit time
    without_commit: int  # deployments whose record has no commit time
    restore_times: tuple[float, ...]  # seconds, one per incident restored
    unrestored: int  # incidents started here and not restored by the end of the window

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400

    @property
    def deployments_per_day(self) -> float:
        return self.deployments / self.days if self.days > 0 else 0.0

    @property
    def change_failure_rate(self) -> float | None:
        return self.failures / self.attempts if self.attempts else None

    @property
    def lead_time_median(self) -> float | None:
        return statistics.median(self.lead_times) if self.lead_times else None

    @property
    def restore_median(self) -> float | None:
        return statistics.median(self.restore_times) if self.restore_times else None

    def to_json(self) -> dict[str, Any]:
        return {
            "start": utc_timestamp(self.start),
            "end": utc_timestamp(self.end),
            "deployment_frequency": {
                "deployments": self.deployments,
                "per_day": round(self.deployments_per_day, 3),
            },
            "lead_time": {
                "median_seconds": self.lead_time_median,
                "deployments_with_commit": len(self.lead_times),
                "deployments_without_commit": self.without_commit,
            },
            "change_failure_rate": {
                "rate": self.change_failure_rate,
                "failures": self.failures,
                "attempts": self.attempts,
            },
            "time_to_restore": {
                "median_seconds": self.restore_median,
                "restored": len(self.restore_times),
                "unrestored": self.unrestored,
            },
        }


@dataclass(frozen=True)
class PhaseTimes:
    """How long one phase took, over the releases of the window that recorded it."""

    name: str
    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "releases": len(self.seconds),
            "median_seconds": self.median,
            "max_seconds": max(self.seconds),
        }


def phase_times(records: Iterable[ReleaseRecord]) -> list[PhaseTimes]:
    """Each phase's durations, phases in the order they first ran; a phase run twice in one
    release (none does today) counts as its total."""
    totals: dict[str, list[float]] = {}
    for record in records:
        per_release: dict[str, float] = {}
        for phase in record.phases:
            per_release[phase.name] = per_release.get(phase.name, 0.0) + phase.seconds
        for name, seconds in per_release.items():
            totals.setdefault(name, []).append(seconds)
    return [PhaseTimes(name, tuple(seconds)) for name, seconds in totals.items()]


def slowest_phase(phases: Iterable[PhaseTimes]) -> PhaseTimes | None:
    """The phase with the longest median (the one to look at first)."""
    return max(phases, key=lambda phase: phase.median, default=None)


@dataclass(frozen=True)
class Insights:
    environment: str
    total: Figures
    weeks: list[Figures]
    incidents: list[Incident]  # those that started in the window
    releases: list[ReleaseRecord]  # ended in the window, oldest first

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "since": utc_timestamp(self.total.start),
            "until": utc_timestamp(self.total.end),
            "releases": len(self.releases),
            "total": self.total.to_json(),
            "weeks": [week.to_json() for week in self.weeks],
            "incidents": [incident.to_json() for incident in self.incidents],
            "phases": [phase.to_json() for phase in self.phases],
            "slowest_phase": slowest.name if (slowest := slowest_phase(self.phases)) else None,
        }

    @property
    def phases(self) -> list[PhaseTimes]:
        return phase_times(self.releases)


def figures(
    records: list[ReleaseRecord],
    failed: frozenset[str],
    all_incidents: list[Incident],
    start: datetime,
    end: datetime,
    window_end: datetime,
) -> Figures:
    """The figures of the releases that ended in [start, end) and the incidents that started
    there (restored: before `window_end`, so an incident counts in the week it started)."""
    inside = [r for r in records if (t := ended_at(r)) is not None and start <= t < end]
    deployed = [r for r in inside if is_deployment(r)]
    lead_times = tuple(
        # A commit time after the release (a skewed clock) counts as no wait, never negative.
        max(_seconds(r.commit.committed_at, str(r.finished_at)), 0.0)
        for r in deployed
        if r.commit is not None and r.commit.committed_at is not None
    )
    attempts = [r for r in inside if is_deployment(r) or r.release_id in failed]
    started = [i for i in all_incidents if start <= i.started_at < end]
    restored = [i for i in started if i.restored_at is not None and i.restored_at < window_end]
    return Figures(
        start=start,
        end=end,
        deployments=len(deployed),
        attempts=len(attempts),
        failures=sum(1 for r in attempts if r.release_id in failed),
        lead_times=lead_times,
        without_commit=len(deployed) - len(lead_times),
        restore_times=tuple(float(i.seconds or 0.0) for i in restored),
        unrestored=len(started) - len(restored),
    )


def compute(
    environment: str, records: Iterable[ReleaseRecord], since: datetime, until: datetime
) -> Insights:
    """The figures of `environment` over [since, until) from its whole history `records`."""
    ordered = chronological(records)
    failed = failures(ordered)
    all_incidents = incidents(ordered)
    weeks = []
    week = week_start(since)
    while week < until:
        start, end = max(week, since), min(week + WEEK, until)
        weeks.append(figures(ordered, failed, all_incidents, start, end, until))
        week += WEEK
    return Insights(
        environment=environment,
        total=figures(ordered, failed, all_incidents, since, until, until),
        weeks=weeks,
        incidents=[i for i in all_incidents if since <= i.started_at < until],
        releases=[r for r in ordered if (t := ended_at(r)) is not None and since <= t < until],
    )


# A release that started this long before the window may still have ended in it (the lock of
# the slowest release lasts hours, not a day).
STARTED_BEFORE_WINDOW = timedelta(days=1)
# Releases read at a time when the history before the window is needed.
CONTEXT_CHUNK = 32
_ID_TIME = "%Y%m%dT%H%M%SZ"


@dataclass
class HistoryRead:
    """What `read_history` read: the records, what it skipped, how long it took."""

    records: list[ReleaseRecord]
    unreadable: list[Unreadable]
    listed: int  # release ids in the history
    seconds: float


def id_time(release_id: str) -> datetime:
    """When a release started, from its id (ids sort by time)."""
    return datetime.strptime(release_id.split("-", 1)[0], _ID_TIME).replace(tzinfo=UTC)


def settled(suffix: list[ReleaseRecord], targets: list[ReleaseRecord], since: datetime) -> bool:
    """True when `suffix` (the newest releases, with the rollback targets they name) reaches
    back far enough: no failure that ended in the window comes before the first release of the
    suffix that restored service, so none of them can belong to an incident begun earlier."""
    failed = failures([*suffix, *targets])
    for record in chronological(suffix):
        if restores_service(record, failed):
            return True
        finished = ended_at(record)
        if record.release_id in failed and finished is not None and finished >= since:
            return False
    return True


def read_history(history: History, since: datetime) -> HistoryRead:
    """The records the figures from `since` need, with one listing and parallel reads: the
    releases from the day before the window on, older ones a chunk at a time until they are
    enough (see `settled`), and the releases their rollbacks returned to."""
    clock = time.monotonic()
    ids = sorted(history.release_ids())
    start = next(
        (i for i, rid in enumerate(ids) if id_time(rid) >= since - STARTED_BEFORE_WINDOW), len(ids)
    )
    unreadable: list[Unreadable] = []

    asked: set[str] = set()

    def read(chosen: list[str]) -> list[ReleaseRecord]:
        asked.update(chosen)
        found = history.read(chosen)
        unreadable.extend(history.unreadable)
        return found

    position = {release_id: index for index, release_id in enumerate(ids)}
    suffix = read(ids[start:])
    targets: list[ReleaseRecord] = []
    while True:
        wanted = {r.rolled_back_to for r in suffix if r.rolled_back_to} - asked
        targets += read(sorted(rid for rid in wanted if rid in position))
        if start == 0 or settled(suffix, targets, since):
            break
        older = max(start - CONTEXT_CHUNK, 0)
        suffix += read([rid for rid in ids[older:start] if rid not in asked])
        suffix += [record for record in targets if position[record.release_id] >= older]
        targets = [record for record in targets if position[record.release_id] < older]
        start = older
    return HistoryRead(
        chronological([*suffix, *targets]), unreadable, len(ids), time.monotonic() - clock
    )


def human_seconds(seconds: float | None) -> str:
    """`45s`, `12m03s`, `3h05m`, `2d04h`; `-` for no value."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def _seconds(earlier: str, later: str) -> float:
    return (parse_timestamp(later) - parse_timestamp(earlier)).total_seconds()
