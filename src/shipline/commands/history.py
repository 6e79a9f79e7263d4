"""`shipline history -e ENV [--limit N]`: the release records of an environment, newest first."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from shipline import console, github
from shipline.aws import short_name
from shipline.commands import add_environment
from shipline.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from shipline.config import Environment
    from shipline.release.records import ReleaseRecord
    from shipline.release.store import History

HELP = "list an environment's releases, newest first"

COLUMNS = ("RELEASE", "KIND", "STATUS", "STARTED", "TOOK", "ACTOR", "WHAT")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_environment(parser)
    parser.add_argument(
        "--limit", type=int, metavar="N", help="show the newest N releases only (default: all)"
    )


def run(args: argparse.Namespace) -> int:
    from shipline.config import USES_HISTORY, load_environment
    from shipline.release.store import History

    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit {args.limit}: expected a whole number of at least 1")
    environment = load_environment(args.config, args.environment, uses=USES_HISTORY)
    history = History(environment)
    report(environment, history, history.list(limit=args.limit), args.json)
    return EXIT_OK


def report(
    environment: Environment, history: History, records: list[ReleaseRecord], as_json: bool
) -> None:
    """The records `history` listed: as JSON, or as a table that marks abandoned releases."""
    for skipped in history.unreadable:
        console.info(f"warning: skipped {skipped.uri}: it {skipped.reason}")
        github.warning(f"skipped {skipped.uri}: it {skipped.reason}", title="shipline history")
    if as_json:
        console.emit_json([record.public_view() for record in records])
        return
    if not records:
        console.info(f"no releases recorded in {history.location}")
        return
    from shipline.release.store import Lock

    held = Lock(environment).status()
    holder = held.release_id if held is not None else None
    table = render_table([row(record.to_dict(), holder) for record in records])
    sys.stdout.write(github.command_proof(table.rstrip("\n")) + "\n")  # errors quote foreign text
    sys.stdout.flush()


def duration(started: str, finished: str | None) -> str:
    from shipline.release.records import parse_timestamp

    if not finished:
        return "-"
    seconds = int((parse_timestamp(finished) - parse_timestamp(started)).total_seconds())
    minutes, seconds = divmod(max(seconds, 0), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def shown_status(document: dict[str, Any], lock_holder: str | None) -> str:
    """The status as the table shows it: an `in_progress` release whose lock is gone or held by
    another release was killed and will never end itself (the record is left as it is)."""
    status = str(document["status"])
    if status == "in_progress" and document["release_id"] != lock_holder:
        return "abandoned"
    return status


def row(document: dict[str, Any], lock_holder: str | None) -> list[str]:
    """One table row: what the release did, in a few words."""
    services = document.get("services", {})
    if document["kind"] == "scale-to-zero":
        what = "stopped " + ", ".join(sorted(services)) if services else "stopped"
    else:
        what = " ".join(
            f"{key}={short_name(entry['task_definition'], '-')}"
            for key, entry in sorted(services.items())
        )
    if document.get("rolled_back_to"):
        what = f"back to {document['rolled_back_to']}: {what}"
    promoted = document.get("promoted_from")
    if promoted:
        what = f"promoted from {promoted['environment']} {promoted['release_id']}: {what}"
    broke = document.get("broke_lock")
    if broke:
        what = (
            f"{what}; broke the lock of release {broke['release_id']} held by {broke['holder']}"
            f" since {broke['acquired_at']} (expires {broke['expires_at']})"
        )
    if document.get("error"):
        what = f"{what} ({document['error']})" if what else document["error"]
    started = document["started_at"].replace("T", " ")[:19] + "Z"
    return [
        document["release_id"],
        document["kind"],
        shown_status(document, lock_holder),
        started,
        duration(document["started_at"], document.get("finished_at")),
        document.get("actor") or "-",
        what or "-",
    ]


def render_table(rows: list[list[str]]) -> str:
    widths = [max(len(COLUMNS[i]), *(len(r[i]) for r in rows)) for i in range(len(COLUMNS) - 1)]
    lines = []
    for cells in [list(COLUMNS), *rows]:
        padded = [cell.ljust(width) for cell, width in zip(cells, widths, strict=False)]
        lines.append("  ".join([*padded, cells[-1]]).rstrip())
    return "\n".join(lines) + "\n"
