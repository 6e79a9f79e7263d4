"""The delivery figures in a GitHub job summary: a table and a Mermaid chart (GitHub renders
`xychart-beta` in Markdown), for `shipline insights` run inside Actions."""

from __future__ import annotations

from shipline.github import markdown_inline, markdown_table
from shipline.insights.figures import Insights, human_seconds, slowest_phase


def summary_markdown(result: Insights) -> str:
    total = result.total
    rate = total.change_failure_rate
    table = markdown_table(
        ["figure", "value", "behind it"],
        [
            [
                "deployment frequency",
                f"{total.deployments_per_day:.2f} / day",
                f"{total.deployments} deployments in {total.days:.0f} days",
            ],
            [
                "lead time for changes (median)",
                human_seconds(total.lead_time_median),
                f"{len(total.lead_times)} deployments with a commit time, "
                f"{total.without_commit} without",
            ],
            [
                "change failure rate",
                "-" if rate is None else f"{rate:.0%}",
                f"{total.failures} failures in {total.attempts} attempts",
            ],
            [
                "time to restore (median)",
                human_seconds(total.restore_median),
                f"{len(total.restore_times)} incidents restored, {total.unrestored} open",
            ],
        ],
    )
    weeks = ", ".join(f'"{week.start:%m-%d}"' for week in result.weeks)
    highest = max([1, *(max(week.deployments, week.failures) for week in result.weeks)])
    chart = (
        "```mermaid\nxychart-beta\n"
        '    title "Deployments (bars) and failures (line) per week"\n'
        f"    x-axis [{weeks}]\n"
        f'    y-axis "releases" 0 --> {highest}\n'
        f"    bar [{', '.join(str(week.deployments) for week in result.weeks)}]\n"
        f"    line [{', '.join(str(week.failures) for week in result.weeks)}]\n"
        "```\n"
    )
    lines = [
        f"## Delivery figures of {result.environment}",
        "",
        f"{total.start:%Y-%m-%d} to {total.end:%Y-%m-%d}, {len(result.releases)} releases "
        "(definitions: docs/insights.md).",
        "",
        table,
        chart,
    ]
    slowest = slowest_phase(result.phases)
    if slowest is not None:
        lines.append(
            f"Slowest phase: {markdown_inline(slowest.name)} (median "
            f"{human_seconds(slowest.median)} over {len(slowest.seconds)} releases)."
        )
    return "\n".join(lines) + "\n"
