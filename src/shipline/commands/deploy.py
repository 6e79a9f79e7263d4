"""`shipline deploy`: one release of new images or task definitions to an environment."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from shipline import console
from shipline.commands import add_environment

if TYPE_CHECKING:
    from shipline.release.deploy import DeployResult

HELP = "release images or task definitions: preflight, migrate, roll out, verify, roll back"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_environment(parser)
    parser.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="KEY=REF",
        help="move every service running image KEY to REF (render its live task definition)",
    )
    parser.add_argument(
        "--task-definition",
        action="append",
        default=[],
        metavar="KEY=ARN",
        help="move service KEY to a registered task definition (e.g. from Terraform outputs)",
    )
    parser.add_argument("--no-migrate", action="store_true", help="do not run the migration")
    parser.add_argument(
        "--no-rollback", action="store_true", help="leave services where they are on a failure"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="run the preflight, print the diff, change nothing"
    )
    parser.add_argument(
        "--skip-preflight",
        action="append",
        default=[],
        metavar="CHECK",
        help="skip one named preflight check on purpose (see docs/deploy.md)",
    )
    parser.add_argument(
        "--release-id",
        metavar="ID",
        help="continue the release session ID opened by `shipline lock acquire` (its lock and "
        "record) instead of taking a new lock; refused (exit 2) if ID does not hold the lock",
    )


def run(args: argparse.Namespace) -> int:
    from shipline import github
    from shipline.config import load_environment
    from shipline.errors import ShiplineError, UsageError
    from shipline.release.deploy import Deploy, DeployRequest
    from shipline.release.plan import parse_assignments
    from shipline.release.stopping import StopSignal

    console.release_output()
    try:
        if args.release_id and args.dry_run:
            raise UsageError("--dry-run changes nothing and takes no --release-id")
        environment = load_environment(args.config, args.environment)
        request = DeployRequest(
            environment=environment,
            images=parse_assignments(args.image, "--image"),
            task_definitions=parse_assignments(args.task_definition, "--task-definition"),
            migrate=not args.no_migrate,
            rollback=not args.no_rollback,
            dry_run=args.dry_run,
            skip_preflight=frozenset(args.skip_preflight),
            release_id=args.release_id,
        )
        stop = StopSignal()
        with stop.catching():
            result = Deploy(request, stop=stop).run()
    except ShiplineError as exc:
        github.error(exc.message, title="shipline deploy refused")
        github.set_outputs({"release_id": "", "status": "refused"})
        raise  # cli.main prints the error (and with --json its document)
    report(result, environment.name, args.json)
    return result.exit_code


def report(result: DeployResult, environment: str, as_json: bool) -> None:
    """The step outputs and summary, the JSON result, and the end of a deploy on the terminal:
    its closing table (or a dry run's diff) and its last line."""
    from shipline import github
    from shipline.release import closing
    from shipline.release.summary import deploy_outputs, deploy_summary

    github.set_outputs(deploy_outputs(result))
    github.append_summary(deploy_summary(result, environment))
    if result.exit_code != 0:
        github.error(result.error or result.status, title=f"shipline deploy {result.status}")
    if as_json:
        console.emit_json(result.to_json())
    for line in result.diff:  # a dry run's result
        console.end(line)
    table = closing.deploy_table(result)
    if len(table.rows) > 1 and not result.diff:
        console.end_table(table.rows, table.styles)
    console.end(closing.deploy_last_line(result), *closing.succeeded_style(result.status))
