"""The delivery figures in the job summary: a table and a Mermaid xychart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shipline.insights import figures as insights
from shipline.insights.job_summary import summary_markdown
from shipline.release.records import PhaseRecord, ReleaseRecord, new_release_id, utc_timestamp

SINCE = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
UNTIL = SINCE + timedelta(days=14)


def record(day: int, status: str, phase: str = "roll out") -> ReleaseRecord:
    started = SINCE + timedelta(days=day)
    made = ReleaseRecord(
        release_id=new_release_id(started),
        environment="production",
        started_at=utc_timestamp(started),
        phases=[PhaseRecord(phase, utc_timestamp(started), 30.0)],
    )
    made.finish(status, None if status == "succeeded" else "x", now=started)  # type: ignore[arg-type]
    return made


def test_the_summary_has_the_four_figures_and_a_weekly_chart():
    records = [
        record(1, "succeeded"),
        record(2, "failed"),
        record(3, "failed"),
        record(9, "succeeded"),
    ]
    text = summary_markdown(insights.compute("production", records, SINCE, UNTIL))
    # No deploy above moved a service: no deployment; two failed attempts, restored by none.
    assert "| change failure rate | 100% | 2 failures in 2 attempts |" in text
    assert "| deployment frequency | 0.00 / day | 0 deployments in 14 days |" in text
    assert "| time to restore (median) | - | 0 incidents restored, 1 open |" in text
    chart = text[text.index("```mermaid") :]
    assert '    x-axis ["11-02", "11-09"]\n' in chart
    assert "    bar [0, 0]\n" in chart
    assert "    line [2, 0]\n" in chart
    assert '    y-axis "releases" 0 --> 2\n' in chart  # the failures fit under the axis


def test_a_phase_name_from_a_record_cannot_turn_into_markdown():
    text = summary_markdown(
        insights.compute("production", [record(1, "succeeded", "[x](https://evil)")], SINCE, UNTIL)
    )
    assert "Slowest phase: ` [x](https://evil) ` (median 30s over 1 releases)." in text
