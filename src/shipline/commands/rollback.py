"""`shipline rollback -e ENV [--to RELEASE_ID] [--scale-to-zero]`: back to an earlier release.

The flow is in `shipline.release.rollback`; this module parses the command line and reports
(outputs, step summary, JSON, the closing lines).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from shipline import console
from shipline.commands import add_environment, at_least
from shipline.errors import EXIT_DAMAGED, EXIT_REFUSED

if TYPE_CHECKING:
    from shipline.release.rollback import RollbackResult

HELP = "roll an environment back to an earlier release, or scale it to zero"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_environment(parser)
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--to",
        metavar="RELEASE_ID",
        help="the release to return to (default: the last succeeded one before the live one)",
    )
    target.add_argument(
        "--scale-to-zero",
        action="store_true",
        help="emergency stop: set every service of the environment to 0 tasks",
    )
    held = parser.add_mutually_exclusive_group()
    held.add_argument(
        "--wait-for-lock",
        type=at_least(float, 0, "a number of seconds", " seconds"),
        default=0.0,
        metavar="SECONDS",
        help="when another release holds the lock, wait up to SECONDS for it to be released "
        "(a progress line per poll) instead of exit 2 at once (default: 0)",
    )
    held.add_argument(
        "--break-lock",
        action="store_true",
        help="take the environment lock even when another release holds it, on purpose; the "
        "rollback's record names the lock it broke",
    )


def run(args: argparse.Namespace) -> int:
    from shipline import github
    from shipline.config import load_environment
    from shipline.errors import ShiplineError
    from shipline.release.rollback import roll_back, scale_to_zero
    from shipline.release.session import LockPolicy
    from shipline.release.stopping import StopSignal

    console.release_output()
    try:
        environment = load_environment(args.config, args.environment)
        policy = LockPolicy(wait_seconds=args.wait_for_lock, break_lock=args.break_lock)
        stop = StopSignal()
        with stop.catching():
            if args.scale_to_zero:
                result = scale_to_zero(environment, stop, policy)
            else:
                result = roll_back(environment, args.to, stop, policy)
    except ShiplineError as exc:
        status = "refused" if exc.exit_code == EXIT_REFUSED else "failed"
        github.error(exc.message, title=f"shipline rollback {status}")
        github.set_outputs({"release_id": "", "status": status, "rolled_back_to": ""})
        raise  # cli.main prints the error (and with --json its document)
    report(result, args.json)
    return result.exit_code


# --- reporting -----------------------------------------------------------------------------


def report(result: RollbackResult, as_json: bool) -> None:
    from shipline import github
    from shipline.console import seconds_text
    from shipline.release import closing
    from shipline.release.summary import rollback_outputs, rollback_summary

    record = result.record
    github.set_outputs(rollback_outputs(result))
    github.append_summary(rollback_summary(result))
    if record.status != "succeeded":
        github.error(record.error or record.status, title=f"shipline {record.kind}")
    if as_json:
        console.emit_json(
            {
                **record.public_view(),
                "record": result.record_uri,
                "moved": result.moved,
                "unchanged": result.already,
                "exit_code": result.exit_code,
            }
        )
    what = f"back to {record.rolled_back_to}" if record.kind == "rollback" else "scaled to zero"
    tail = f": {record.error}" if record.error else ""
    if result.exit_code == EXIT_DAMAGED:  # services are between releases: say what to run
        name = record.environment
        tail += (
            f"; next: `shipline rollback -e {name} --to RELEASE_ID` to a release you trust "
            f"(`shipline history -e {name}`), or `shipline rollback -e {name} --scale-to-zero`"
        )
    table = closing.rollback_table(result)
    if len(table.rows) > 1:
        console.end_table(table.rows, table.styles)
    took = f" in {seconds_text(result.total_seconds)}" if result.total_seconds is not None else ""
    console.end(f"record: {result.record_uri}")
    console.end(
        f"{record.kind} {record.release_id} ({what}): {record.status}{took}{tail}",
        *closing.succeeded_style(record.status),
    )
