"""The HTML report as text: self-contained, record text escaped, one mark per release."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from shipline.insights import figures as insights
from shipline.insights.html_report import CSP, render_html
from shipline.release.records import PhaseRecord, ReleaseRecord, new_release_id, utc_timestamp

SINCE = datetime(2026, 11, 2, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=14)


def record(day: int, status: str, error: str | None = None, phases=()) -> ReleaseRecord:
    started = SINCE + timedelta(days=day)
    made = ReleaseRecord(
        release_id=new_release_id(started),
        environment="production",
        started_at=utc_timestamp(started),
        phases=list(phases),
    )
    made.finish(status, error, now=started + timedelta(minutes=2))  # type: ignore[arg-type]
    return made


def page(records: list[ReleaseRecord]) -> str:
    return render_html(insights.compute("production", records, SINCE, UNTIL), UNTIL)


def test_the_page_loads_nothing_and_forbids_loading_anything():
    text = page([record(1, "succeeded"), record(2, "failed", "boom")])
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in text
    assert "default-src 'none'" in CSP
    # No element that fetches, no URL at all: charts are inline SVG.
    assert not re.search(r"<(script|img|link|iframe|object|embed)\b", text)
    assert not re.search(r"\b(src|href)=", text)
    assert "://" not in text


def test_record_text_is_escaped_everywhere_it_appears():
    hostile = "<img src=x onerror=alert(1)></title><script>alert(2)</script>"
    text = page(
        [
            record(1, "failed", hostile),
            record(2, "succeeded", phases=[PhaseRecord(hostile, utc_timestamp(SINCE), 3.0)]),
        ]
    )
    assert "<img" not in text and "<script" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text


def test_one_mark_per_release_of_the_window_and_the_slowest_phase_named():
    phases = [
        PhaseRecord("preflight", utc_timestamp(SINCE), 2.0),
        PhaseRecord("roll out", utc_timestamp(SINCE), 120.0),
    ]
    records = [record(day, "succeeded", phases=phases) for day in (1, 3, 8)]
    records.append(record(-3, "failed"))  # before the window: no mark
    text = page(records)
    marks = re.findall(r'<circle class="release" data-release="([^"]+)"', text)
    assert marks == [r.release_id for r in records[:3]]
    assert 'id="slowest-phase">Slowest phase: <strong>roll out</strong>' in text


def test_no_phases_recorded_says_so():
    assert "No release in the window recorded its phases." in page([record(1, "succeeded")])
