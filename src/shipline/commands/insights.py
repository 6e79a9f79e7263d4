"""`shipline insights -e ENV [--since 30d] [--html FILE]`: the delivery figures, by week."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from shipline import console, github
from shipline.commands import add_environment
from shipline.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from shipline.insights.figures import Figures, Insights

HELP = "the four delivery figures (DORA) of an environment, week by week, from its releases"

COLUMNS = (
    "WEEK",
    "DEPLOYS",
    "PER DAY",
    "LEAD TIME",
    "NO COMMIT",
    "FAILED",
    "CFR",
    "RESTORE",
    "OPEN",
)

LEGEND = (
    "DEPLOYS: deploys that succeeded (PER DAY: on average); LEAD TIME: median time from commit",
    "to deployed (deploys with a commit time); NO COMMIT: deploys without one; FAILED: failures",
    "/ attempts; CFR: change failure rate; RESTORE: median time to restore (incidents restored);",
    "OPEN: incidents not restored yet. Definitions: docs/insights.md",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_environment(parser)
    parser.add_argument(
        "--since",
        default="30d",
        metavar="WHEN",
        help="start of the window: days or weeks back (30d, 8w) or a date (2026-11-01); "
        "default 30d",
    )
    parser.add_argument(
        "--html",
        metavar="FILE",
        help="also write the figures as one self-contained HTML page (charts inline, no network)",
    )


def run(args: argparse.Namespace) -> int:
    from shipline.config import USES_HISTORY, load_environment
    from shipline.insights import figures as insights
    from shipline.release.store import History

    now = datetime.now(UTC)
    since = insights.window_start(args.since, now)
    html_file = Path(args.html) if args.html else None
    if html_file is not None and not html_file.parent.is_dir():
        raise UsageError(f"--html {args.html}: no directory {html_file.parent}")
    environment = load_environment(args.config, args.environment, uses=USES_HISTORY)
    read = insights.read_history(History(environment), since)
    for skipped in read.unreadable:
        console.info(f"warning: skipped {skipped.uri}: it {skipped.reason}")
        github.warning(f"skipped {skipped.uri}: it {skipped.reason}", title="shipline insights")
    console.info(
        f"read {len(read.records)} of the {read.listed} release records of {environment.name} "
        f"in {read.seconds:.2f}s"
    )
    result = insights.compute(environment.name, read.records, since, now)
    if github.in_actions():
        from shipline.insights.job_summary import summary_markdown

        github.append_summary(summary_markdown(result))
    if html_file is not None:
        from shipline.insights.html_report import render_html

        try:
            html_file.write_text(render_html(result, now), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--html {args.html}: cannot write it: {exc.strerror}") from None
        console.info(f"wrote {html_file}")
    if args.json:
        document = result.to_json()
        document["read"] = {
            "listed": read.listed,
            "records": len(read.records),
            "unreadable": len(read.unreadable),
            "seconds": round(read.seconds, 3),
        }
        console.emit_json(document)
    else:
        sys.stdout.write(render(result))
        sys.stdout.flush()
    return EXIT_OK


def row(label: str, figures: Figures) -> list[str]:
    from shipline.insights.figures import human_seconds

    rate = figures.change_failure_rate
    return [
        label,
        str(figures.deployments),
        f"{figures.deployments_per_day:.2f}",
        f"{human_seconds(figures.lead_time_median)} ({len(figures.lead_times)})",
        str(figures.without_commit),
        f"{figures.failures}/{figures.attempts}",
        "-" if rate is None else f"{rate:.0%}",
        f"{human_seconds(figures.restore_median)} ({len(figures.restore_times)})",
        str(figures.unrestored),
    ]


def render(result: Insights) -> str:
    """The table: one row per week and one for the whole window, then what the columns mean."""
    from shipline.insights.figures import human_seconds, slowest_phase

    total = result.total
    rows = [row(f"{week.start:%Y-%m-%d}", week) for week in result.weeks]
    rows.append(row("all", total))
    widths = [max(len(COLUMNS[i]), *(len(r[i]) for r in rows)) for i in range(len(COLUMNS))]
    lines = [
        f"{result.environment}: {len(result.releases)} releases from "
        f"{total.start:%Y-%m-%d %H:%MZ} to {total.end:%Y-%m-%d %H:%MZ}",
        "",
    ]
    for cells in [list(COLUMNS), *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    lines += ["", *LEGEND]
    slowest = slowest_phase(result.phases)
    if slowest is not None:
        lines.append(
            f"slowest phase: {slowest.name} (median {human_seconds(slowest.median)} over "
            f"{len(slowest.seconds)} releases)"
        )
    if total.without_commit:
        lines.append(
            f"note: {total.without_commit} of {total.deployments} deploys have no commit time "
            "in their record: lead time leaves them out"
        )
    return "\n".join(lines) + "\n"
