"""`shipline demo`: a release story against an AWS sandbox embedded in this process.

The story is `shipline.demo`; this command shows each step's end as `deploy`, `rollback` and
`history` show it, and with --json prints the story's summary.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TYPE_CHECKING

from shipline import console
from shipline.errors import EXIT_OK

if TYPE_CHECKING:
    from shipline.config import Environment
    from shipline.release.deploy import DeployResult
    from shipline.release.records import ReleaseRecord
    from shipline.release.rollback import RollbackResult
    from shipline.release.store import History

HELP = "run a release story against an embedded AWS sandbox (no AWS account needed)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options of its own: --json prints the story's summary."""


def run(args: argparse.Namespace) -> int:
    from shipline import demo

    console.release_output()
    # What the steps print for people joins the story on stderr; stdout stays for --json.
    with contextlib.redirect_stdout(sys.stderr):
        summary = demo.tell(CommandNarrator())
    if args.json:
        console.emit_json(summary)
    return EXIT_OK


class CommandNarrator:
    """Each step's end as its own command renders it (the story itself prints no JSON)."""

    def deployed(self, result: DeployResult, environment: Environment) -> None:
        from shipline.commands import deploy

        deploy.report(result, environment.name, as_json=False)

    def rolled_back(self, outcome: RollbackResult) -> None:
        from shipline.commands import rollback

        rollback.report(outcome, False)

    def listed(
        self, environment: Environment, history: History, records: list[ReleaseRecord]
    ) -> None:
        from shipline.commands import history as history_command

        history_command.report(environment, history, records, as_json=False)
