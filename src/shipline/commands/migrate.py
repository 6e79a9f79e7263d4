"""`shipline migrate`: the migration task alone, on the same code as a deploy's step 4."""

from __future__ import annotations

import argparse
import time
from typing import Any

from shipline import console
from shipline.commands import add_environment

HELP = "run the database migration as a one-off ECS task; its exit code decides"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_environment(parser)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--image",
        metavar="KEY=REF",
        help="register the migrate service's live task definition with this image, then run it",
    )
    what.add_argument(
        "--task-definition", metavar="ARN", help="run this registered task definition as it is"
    )


def run(args: argparse.Namespace) -> int:
    from shipline import github
    from shipline.config import load_environment
    from shipline.release import plan
    from shipline.release.migrate import migrate
    from shipline.release.stopping import StopSignal
    from shipline.release.summary import migrate_summary
    from shipline.sensitive import mask_text

    console.release_output()
    environment = load_environment(args.config, args.environment)
    image = None
    if args.image:
        [image] = plan.parse_assignments([args.image], "--image").items()
    stop = StopSignal()
    started = time.monotonic()
    with stop.catching(), console.phase("migrate") as step:
        run = migrate(
            environment,
            image=image,
            task_definition=args.task_definition,
            stop=stop,
            report=console.info,
        )
        if run.record.status != "succeeded":
            step.fail()
    took = console.seconds_text(time.monotonic() - started)
    record, result = run.record, run.result
    if result is not None:
        for line in result.log_tail:
            console.info(f"  | {mask_text(line)}")
        github.set_outputs({"task_arn": result.task_arn, "exit_code": result.exit_code})
    github.append_summary(migrate_summary(run))
    if args.json:
        document: dict[str, Any] = {"release_id": record.release_id, "record": run.record_uri}
        if result is not None:
            document |= {**result.to_record(), "ok": result.ok, "log_tail": list(result.log_tail)}
        console.emit_json(document | {"status": record.status, "error": record.error})
    console.end(f"record: {run.record_uri}")
    if record.status == "succeeded":
        console.end(f"migration succeeded (exit code 0) in {took}", console.GREEN)
    else:
        github.error(record.error or record.status, title="shipline migrate")
        last = f"migrate {record.release_id} {record.status} in {took}: {record.error}"
        console.end(last, console.RED)
    return run.exit_code
