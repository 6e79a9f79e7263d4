"""The four delivery figures on hand-made histories (definitions: docs/insights.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shipline.errors import UsageError
from shipline.insights import figures as insights
from shipline.release.records import (
    CommitRecord,
    ReleaseRecord,
    ServiceRecord,
    new_release_id,
    utc_timestamp,
)

# A Monday: the window [SINCE, UNTIL) is exactly two weeks.
SINCE = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=14)
TD = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:{}"
SHA = "a" * 40


def release(
    hours: float,
    status: str = "succeeded",
    kind: str = "deploy",
    *,
    took_minutes: float = 5,
    committed_hours_before: float | None = None,
    rolled_back_to: str | None = None,
    moved: bool = True,
) -> ReleaseRecord:
    """A release that started `hours` after SINCE and ended `took_minutes` later."""
    started = SINCE + timedelta(hours=hours)
    finished = started + timedelta(minutes=took_minutes)
    commit = None
    if committed_hours_before is not None:
        commit = CommitRecord(
            SHA, utc_timestamp(finished - timedelta(hours=committed_hours_before))
        )
    record = ReleaseRecord(
        release_id=new_release_id(started),
        environment="production",
        kind=kind,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        started_at=utc_timestamp(started),
        finished_at=None if status == "in_progress" else utc_timestamp(finished),
        services={"api": ServiceRecord("app-api", TD.format(abs(int(hours)) + 1), None, 2)}
        if moved
        else {},
        rolled_back_to=rolled_back_to,
        commit=commit,
    )
    record.validate()  # every hand-made record fits the stored form
    return record


def compute(records: list[ReleaseRecord]) -> insights.Insights:
    return insights.compute("production", records, SINCE, UNTIL)


def test_no_releases_gives_zero_counts_and_no_rates_or_medians():
    result = compute([])
    total = result.total
    assert (total.deployments, total.attempts, total.failures) == (0, 0, 0)
    assert total.change_failure_rate is None
    assert total.lead_time_median is None
    assert total.restore_median is None
    assert total.deployments_per_day == 0.0
    assert [week.start for week in result.weeks] == [SINCE, SINCE + timedelta(days=7)]
    assert result.incidents == []


def test_only_failures_rate_one_and_an_incident_left_open():
    records = [
        release(1, "failed"),
        release(2, "rolled_back"),
        release(3, "rollback_failed"),
    ]
    total = compute(records).total
    assert total.deployments == 0
    assert (total.failures, total.attempts) == (3, 3)
    assert total.change_failure_rate == 1.0
    # One incident (from the first failure): nothing restored it.
    assert total.restore_times == ()
    assert total.unrestored == 1
    [incident] = compute(records).incidents
    assert incident.failed_release == records[0].release_id
    assert incident.restored_by is None


def test_a_manual_rollback_makes_the_release_it_abandoned_a_failure_and_restores_service():
    good = release(1)
    bad = release(5)
    rollback = release(6, kind="rollback", rolled_back_to=good.release_id, took_minutes=3)
    result = compute([good, bad, rollback])
    total = result.total
    # Both deploys succeeded (two deployments); the rolled-back-from one is also a failure.
    assert total.deployments == 2
    assert (total.failures, total.attempts) == (1, 2)
    assert total.change_failure_rate == 0.5
    [incident] = result.incidents
    assert incident.failed_release == bad.release_id
    assert incident.restored_by == rollback.release_id
    # From the end of the bad deploy (5h05) to the end of the rollback (6h03).
    assert total.restore_times == (58 * 60.0,)


def test_restore_runs_from_the_first_failure_to_the_next_succeeded_release():
    records = [
        release(0),
        release(10, "failed"),  # the incident starts when this one ends (10h05)
        release(11, "rolled_back"),  # same incident
        release(12, "interrupted"),  # stopped on purpose: neither attempt nor failure
        release(13, kind="scale-to-zero"),  # stops service: restores nothing
        release(14, moved=False),  # moved no service: no deployment, restores nothing
        release(20),  # restores (20h05)
    ]
    result = compute(records)
    assert result.total.deployments == 2
    assert (result.total.failures, result.total.attempts) == (2, 4)
    assert result.total.restore_times == (10 * 3600.0,)
    assert result.incidents[0].failed_release == records[1].release_id
    assert result.incidents[0].restored_by == records[-1].release_id


def test_lead_time_counts_only_deploys_with_a_commit_time_and_says_how_many_lacked_it():
    records = [
        release(1, committed_hours_before=2),
        release(2, committed_hours_before=4),
        release(3, committed_hours_before=9),
        release(4),  # an older record: no commit
        release(5, "failed", committed_hours_before=1),  # not a deployment
    ]
    total = compute(records).total
    assert total.deployments == 4
    assert total.lead_times == (2 * 3600.0, 4 * 3600.0, 9 * 3600.0)
    assert total.lead_time_median == 4 * 3600.0
    assert total.without_commit == 1


def test_a_commit_without_its_time_counts_as_lacking_commit_data():
    record = release(1)
    record.commit = CommitRecord(SHA, None)
    total = compute([record]).total
    assert (total.lead_times, total.without_commit) == ((), 1)


def test_figures_are_per_week_where_the_release_ended_and_in_progress_counts_nowhere():
    records = [
        release(24),  # week 1
        release(24 * 8, "failed"),  # week 2
        release(24 * 9),  # week 2: restores
        release(24 * 10, "in_progress"),
        release(-24),  # before the window: outside every figure
    ]
    result = compute(records)
    first, second = result.weeks
    assert (first.deployments, first.attempts, first.failures) == (1, 1, 0)
    assert (second.deployments, second.attempts, second.failures) == (1, 2, 1)
    assert second.restore_times == (24 * 3600.0,)
    assert result.total.deployments == 2
    assert first.deployments_per_day == pytest.approx(1 / 7)
    assert len(result.releases) == 3


def test_an_incident_counts_in_the_week_it_started_even_when_restored_the_week_after():
    records = [release(24 * 6, "failed"), release(24 * 8)]
    first, second = compute(records).weeks
    assert (first.unrestored, len(first.restore_times)) == (0, 1)
    assert second.restore_times == ()


def test_an_incident_open_at_the_end_of_the_window_is_unrestored():
    records = [release(24 * 13, "failed"), release(24 * 15)]  # restored after UNTIL
    total = compute(records).total
    assert (total.unrestored, total.restore_times) == (1, ())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", UNTIL - timedelta(days=30)),
        ("8w", UNTIL - timedelta(weeks=8)),
        ("2026-11-02", SINCE),
    ],
)
def test_since_takes_days_weeks_or_a_date(text, expected):
    assert insights.window_start(text, UNTIL) == expected


@pytest.mark.parametrize("text", ["", "30", "0d", "3m", "-1d", "2026-13-01", "2099-01-01"])
def test_since_refuses_anything_else(text):
    with pytest.raises(UsageError, match="--since"):
        insights.window_start(text, UNTIL)


def test_the_json_form_names_every_figure_and_its_counts():
    records = [release(1, committed_hours_before=1), release(2, "failed"), release(3)]
    document = compute(records).to_json()
    total = document["total"]
    assert total["deployment_frequency"]["deployments"] == 2
    assert total["lead_time"] == {
        "median_seconds": 3600.0,
        "deployments_with_commit": 1,
        "deployments_without_commit": 1,
    }
    assert total["change_failure_rate"] == {"rate": 1 / 3, "failures": 1, "attempts": 3}
    assert total["time_to_restore"]["restored"] == 1
    assert len(document["weeks"]) == 2
    assert document["incidents"][0]["restored_by"] == records[2].release_id
