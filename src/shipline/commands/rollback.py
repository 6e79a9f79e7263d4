"""`shipline rollback -e ENV [--to RELEASE_ID] [--scale-to-zero]`: back to an earlier release.

The flow is in `shipline.release.rollback`; this module parses the command line and reports
(outputs, step summary, JSON, the closing lines).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from shipline import console
from shipline.errors import EXIT_DAMAGED, EXIT_REFUSED
from shipline.release.rollout import short_name

if TYPE_CHECKING:
    from shipline.release.rollback import Outcome

HELP = "roll an environment back to an earlier release, or scale it to zero"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-e", "--environment", required=True, metavar="ENV", help="environment")
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
        type=_seconds,
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


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"'{text}' must be 0 or more seconds")
    return value


def run(args: argparse.Namespace) -> int:
    from shipline import github
    from shipline.config import load_environment
    from shipline.errors import ShiplineError
    from shipline.release.rollback import LockPolicy, roll_back, scale_to_zero
    from shipline.release.stopping import StopSignal

    try:
        environment = load_environment(args.config, args.environment)
        policy = LockPolicy(wait_seconds=args.wait_for_lock, break_lock=args.break_lock)
        stop = StopSignal()
        with stop.catching():
            if args.scale_to_zero:
                outcome = scale_to_zero(environment, stop, policy)
            else:
                outcome = roll_back(environment, args.to, stop, policy)
    except ShiplineError as exc:
        status = "refused" if exc.exit_code == EXIT_REFUSED else "failed"
        github.error(exc.message, title=f"shipline rollback {status}")
        github.set_outputs({"release_id": "", "status": status, "rolled_back_to": ""})
        raise  # cli.main prints the error (and with --json its document)
    report(outcome, args.json)
    return outcome.exit_code


# --- reporting -----------------------------------------------------------------------------


def report(outcome: Outcome, as_json: bool) -> None:
    from shipline import github

    record = outcome.record
    outputs: dict[str, Any] = {
        "release_id": record.release_id,
        "status": record.status,
        "rolled_back_to": record.rolled_back_to,
        "record": outcome.record_uri,
    }
    outputs.update(
        {f"{key}_task_definition": entry.task_definition for key, entry in record.services.items()}
    )
    github.set_outputs(outputs)
    github.append_summary(summary_markdown(outcome))
    if record.status != "succeeded":
        github.error(record.error or record.status, title=f"shipline {record.kind}")
    if as_json:
        from shipline.commands.history import public_view

        console.emit_json(
            {
                **public_view(record.to_dict()),
                "record": outcome.record_uri,
                "moved": outcome.moved,
                "unchanged": outcome.already,
                "exit_code": outcome.exit_code,
            }
        )
    what = f"back to {record.rolled_back_to}" if record.kind == "rollback" else "scaled to zero"
    tail = f": {record.error}" if record.error else ""
    if outcome.exit_code == EXIT_DAMAGED:  # services are between releases: say what to run
        name = record.environment
        tail += (
            f"; next: `shipline rollback -e {name} --to RELEASE_ID` to a release you trust "
            f"(`shipline history -e {name}`), or `shipline rollback -e {name} --scale-to-zero`"
        )
    console.info(f"record: {outcome.record_uri}")
    console.info(f"{record.kind} {record.release_id} ({what}): {record.status}{tail}")


def summary_markdown(outcome: Outcome) -> str:
    """The step summary: what moved where, health, the result, and where the record is."""
    from shipline import github

    record = outcome.record
    title = (
        f"Rollback of {record.environment} to {record.rolled_back_to}"
        if record.kind == "rollback"
        else f"Scale-to-zero of {record.environment}"
    )
    rows = []
    for key, entry in sorted(record.services.items()):
        if key in outcome.moved:
            result: str = record.status
        elif key in outcome.already:
            result = "unchanged"
        else:
            result = "not moved"
        rows.append(
            [
                key,
                short_name(entry.previous_task_definition),
                short_name(entry.task_definition),
                entry.desired_count,
                result,
            ]
        )
    parts = [
        f"## {title}: {record.status}\n",
        github.markdown_table(["service", "before", "after", "tasks", "result"], rows),
    ]
    if record.health:
        parts.append(
            github.markdown_table(
                ["health", "url", "ok", "status", "attempts"],
                [
                    [h.service or "", h.url, "yes" if h.ok else "NO", h.status, h.attempts]
                    for h in record.health
                ],
            )
        )
    if record.broke_lock:
        broke = record.broke_lock
        parts.append(
            f"**Broke the lock on purpose** of release `{broke['release_id']}` held by "
            f"{broke['holder']} since {broke['acquired_at']} (expires {broke['expires_at']})\n"
        )
    if record.error:
        parts.append(f"**Error:** {github.markdown_inline(github.mask_text(record.error))}\n")
    parts.append(f"Release `{record.release_id}`, record `{outcome.record_uri}`\n")
    return "\n".join(parts)
