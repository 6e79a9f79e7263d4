"""The delivery figures as one self-contained HTML page: inline SVG charts, no script, and a
Content-Security-Policy that lets the page load nothing (it opens offline, from an artifact).

Every text from a record (release ids, phase names, errors) is escaped: records are data.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from shipline.insights.figures import (
    Figures,
    Insights,
    PhaseTimes,
    ended_at,
    human_seconds,
    slowest_phase,
)
from shipline.release.records import ReleaseRecord

# Outcome -> colour of its mark (colour-blind safe palette, Okabe-Ito).
OUTCOME_COLOURS = {
    "succeeded": "#009e73",
    "failed": "#d55e00",
    "rolled_back": "#e69f00",
    "rollback_failed": "#cc79a7",
    "interrupted": "#999999",
}
# Rows of the timeline, top to bottom.
TIMELINE_ROWS = ("deploy", "rollback", "migrate", "scale-to-zero")
WIDTH = 900
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 960px; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0; } h2 { font-size: 1.15em; margin-top: 2em; }
.figures { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; }
.figure { border: 1px solid #ddd; border-radius: 6px; padding: 10px 12px; }
.figure h3 { font-size: .85em; font-weight: 600; margin: 0; color: #555; }
.figure .value { font-size: 1.7em; font-weight: 700; margin: 4px 0; }
.figure .counts { font-size: .85em; color: #555; }
table { border-collapse: collapse; margin-top: .5em; }
td, th { padding: 3px 10px; text-align: left; }
th { border-bottom: 1px solid #ccc; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.legend span { display: inline-block; margin-right: 14px; font-size: .85em; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 5px;
  margin-right: 4px; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
.note { color: #555; font-size: .9em; }
"""


def _figure(key: str, title: str, value: str, counts: str) -> str:
    return (
        f'<div class="figure" data-figure="{key}"><h3>{title}</h3>'
        f'<div class="value">{escape(value)}</div><div class="counts">{escape(counts)}</div></div>'
    )


def figures_html(total: Figures) -> str:
    rate = total.change_failure_rate
    return (
        '<div class="figures">'
        + _figure(
            "deployment-frequency",
            "Deployment frequency",
            f"{total.deployments_per_day:.2f} / day",
            f"{total.deployments} deployments in {total.days:.0f} days",
        )
        + _figure(
            "lead-time",
            "Lead time for changes (median)",
            human_seconds(total.lead_time_median),
            f"{len(total.lead_times)} deployments with a commit time, "
            f"{total.without_commit} without",
        )
        + _figure(
            "change-failure-rate",
            "Change failure rate",
            "-" if rate is None else f"{rate:.0%}",
            f"{total.failures} failures in {total.attempts} attempts",
        )
        + _figure(
            "time-to-restore",
            "Time to restore (median)",
            human_seconds(total.restore_median),
            f"{len(total.restore_times)} incidents restored, {total.unrestored} open",
        )
        + "</div>"
    )


def weeks_svg(weeks: list[Figures]) -> str:
    """Deployments (green) and failures (orange) per week, side by side."""
    height, top, bottom = 180, 10, 30
    highest = max([1, *(max(w.deployments, w.failures) for w in weeks)])
    slot = WIDTH / max(len(weeks), 1)
    bar = min(slot / 3, 40)
    marks = []
    for index, week in enumerate(weeks):
        x = index * slot + slot / 2
        for offset, count, colour, what in (
            (-bar, week.deployments, OUTCOME_COLOURS["succeeded"], "deployments"),
            (0.0, week.failures, OUTCOME_COLOURS["failed"], "failures"),
        ):
            tall = (height - top - bottom) * count / highest
            marks.append(
                f'<rect class="week-bar" x="{x + offset:.1f}" y="{height - bottom - tall:.1f}" '
                f'width="{bar:.1f}" height="{tall:.1f}" fill="{colour}">'
                f"<title>week of {week.start:%Y-%m-%d}: {count} {what}</title></rect>"
            )
        marks.append(
            f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle">{week.start:%m-%d}</text>'
        )
    return (
        f'<svg role="img" aria-label="deployments and failures per week" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}">'
        f'<line x1="0" x2="{WIDTH}" y1="{height - bottom}" y2="{height - bottom}" stroke="#ccc"/>'
        + "".join(marks)
        + "</svg>"
    )


def timeline_svg(releases: list[ReleaseRecord], start: datetime, end: datetime) -> str:
    """One mark per release where it ended, one row per kind, coloured by outcome."""
    row_height, left = 26, 100
    height = row_height * len(TIMELINE_ROWS) + 24
    span = max((end - start).total_seconds(), 1.0)
    parts = []
    for row, kind in enumerate(TIMELINE_ROWS):
        y = row * row_height + row_height / 2
        parts.append(f'<text x="0" y="{y + 4:.0f}">{kind}</text>')
        parts.append(f'<line x1="{left}" x2="{WIDTH}" y1="{y}" y2="{y}" stroke="#eee"/>')
    for record in releases:
        finished = ended_at(record)
        if finished is None:
            continue
        x = left + (WIDTH - left - 8) * (finished - start).total_seconds() / span + 4
        y = TIMELINE_ROWS.index(record.kind) * row_height + row_height / 2
        colour = OUTCOME_COLOURS.get(record.status, "#000000")
        what = f"{record.release_id} {record.kind} {record.status}"
        if record.error:
            what += f": {record.error}"
        parts.append(
            f'<circle class="release" data-release="{escape(record.release_id)}" '
            f'data-status="{escape(record.status)}" cx="{x:.1f}" cy="{y:.1f}" r="6" '
            f'fill="{colour}" fill-opacity="0.85"><title>{escape(what)}</title></circle>'
        )
    axis = height - 6
    parts.append(f'<text x="{left}" y="{axis}">{start:%Y-%m-%d}</text>')
    parts.append(f'<text x="{WIDTH}" y="{axis}" text-anchor="end">{end:%Y-%m-%d}</text>')
    legend = "".join(
        f'<span><i style="background:{colour}"></i>{status}</span>'
        for status, colour in OUTCOME_COLOURS.items()
    )
    return (
        f'<svg role="img" aria-label="releases by outcome" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}">' + "".join(parts) + "</svg>"
        f'<div class="legend">{legend}</div>'
    )


def _label(name: str, room: int = 30) -> str:
    """A phase name that fits left of its bar (the table below has it whole)."""
    return name if len(name) <= room else name[: room - 1] + "\u2026"


def phases_html(phases: list[PhaseTimes]) -> str:
    """Median duration per phase as bars, the slowest marked, and the numbers in a table."""
    if not phases:
        return '<p class="note">No release in the window recorded its phases.</p>'
    slowest = slowest_phase(phases)
    longest = max(phase.median for phase in phases) or 1.0
    row_height, left = 24, 200
    height = row_height * len(phases) + 6
    bars = []
    for index, phase in enumerate(phases):
        y = index * row_height + 4
        wide = (WIDTH - left - 90) * phase.median / longest
        colour = OUTCOME_COLOURS["failed"] if phase is slowest else "#56b4e9"
        bars.append(
            f'<text x="0" y="{y + 13}">{escape(_label(phase.name))}</text>'
            f'<rect class="phase-bar" data-phase="{escape(phase.name)}" x="{left}" y="{y}" '
            f'width="{wide:.1f}" height="16" fill="{colour}"/>'
            f'<text x="{left + wide + 6:.1f}" y="{y + 13}">{human_seconds(phase.median)}</text>'
        )
    rows = "".join(
        f"<tr><td>{escape(phase.name)}</td><td class=num>{len(phase.seconds)}</td>"
        f"<td class=num>{human_seconds(phase.median)}</td>"
        f"<td class=num>{human_seconds(max(phase.seconds))}</td></tr>"
        for phase in phases
    )
    assert slowest is not None
    return (
        f'<p id="slowest-phase">Slowest phase: <strong>{escape(slowest.name)}</strong> '
        f"(median {human_seconds(slowest.median)} over {len(slowest.seconds)} releases)</p>"
        f'<svg role="img" aria-label="median duration per phase" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}">' + "".join(bars) + "</svg>"
        "<table><tr><th>phase</th><th>releases</th><th>median</th><th>longest</th></tr>"
        f"{rows}</table>"
    )


def weeks_table(weeks: list[Figures]) -> str:
    rows = []
    for week in weeks:
        rate = week.change_failure_rate
        rows.append(
            f"<tr><td>{week.start:%Y-%m-%d}</td><td class=num>{week.deployments}</td>"
            f"<td class=num>{human_seconds(week.lead_time_median)}</td>"
            f"<td class=num>{week.failures}/{week.attempts}</td>"
            f"<td class=num>{'-' if rate is None else f'{rate:.0%}'}</td>"
            f"<td class=num>{human_seconds(week.restore_median)}</td></tr>"
        )
    return (
        "<table><tr><th>week</th><th>deployments</th><th>lead time</th><th>failed</th>"
        "<th>change failure rate</th><th>time to restore</th></tr>" + "".join(rows) + "</table>"
    )


def render_html(result: Insights, generated_at: datetime) -> str:
    """The whole page."""
    total = result.total
    environment = escape(result.environment)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>Delivery figures: {environment}</title><style>{STYLE}</style></head><body>"
        f"<h1>Delivery figures: {environment}</h1>"
        f'<p class="note">{len(result.releases)} releases from {total.start:%Y-%m-%d %H:%MZ} '
        f"to {total.end:%Y-%m-%d %H:%MZ}; made by shipline at {generated_at:%Y-%m-%d %H:%MZ}. "
        "Definitions: docs/insights.md.</p>"
        f"{figures_html(total)}"
        "<h2>Releases by outcome</h2>"
        f"{timeline_svg(result.releases, total.start, total.end)}"
        "<h2>Week by week</h2>"
        f"{weeks_svg(result.weeks)}"
        f'<div class="legend"><span><i style="background:{OUTCOME_COLOURS["succeeded"]}"></i>'
        f'deployments</span><span><i style="background:{OUTCOME_COLOURS["failed"]}"></i>'
        "failures</span></div>"
        f"{weeks_table(result.weeks)}"
        "<h2>Time per phase</h2>"
        f"{phases_html(result.phases)}"
        "</body></html>\n"
    )
