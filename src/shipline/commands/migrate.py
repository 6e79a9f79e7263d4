"""`shipline migrate`: the migration task alone, on the same code as a deploy's step 4."""

from __future__ import annotations

import argparse
from typing import Any

from shipline import console

HELP = "run the database migration as a one-off ECS task; its exit code decides"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-e", "--environment", required=True, help="environment in shipline.yml")
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
    from shipline import aws, github
    from shipline.config import load_environment
    from shipline.errors import EXIT_FAILED, EXIT_OK, UsageError
    from shipline.images.resolve import pin_references
    from shipline.release import plan
    from shipline.release.migrate import launch_settings, run_migration
    from shipline.release.stopping import Interrupted, StopSignal

    environment = load_environment(args.config, args.environment)
    settings = environment.migrate
    if settings is None:
        said = "says `migrate: none`" if environment.migrate_none else "has no `migrate` section"
        raise UsageError(f"environment '{environment.name}' {said}")
    service = environment.services[settings.service]
    region = aws.resolve_region(environment.region)
    ecs = aws.client("ecs", region)
    description = _active_service(ecs, environment.cluster, service.service)
    _refuse_when_locked(environment)
    if args.image:
        [(key, reference)] = plan.parse_assignments([args.image], "--image").items()
        if key != service.image:
            raise UsageError(
                f"--image {key}: the migration runs service '{service.key}', whose image key "
                f"is '{service.image}'"
            )
        plan.plan_moves(environment, {key: reference}, {})  # checks the reference
        if "@" not in reference:  # run exactly what the tag names now, as a deploy does
            reference = pin_references({key: reference})[key]
            console.info(f"image {key}: {github.mask_text(reference)}")
        live = ecs.describe_task_definition(
            taskDefinition=description["taskDefinition"], include=["TAGS"]
        )
        request = plan.render_task_definition(live, settings.container, reference)
        task_definition = ecs.register_task_definition(**request)["taskDefinition"]
        console.info(f"registered {task_definition['family']}:{task_definition['revision']}")
    else:
        arn = args.task_definition
        if not plan.TASK_DEFINITION_ARN.fullmatch(arn):
            raise UsageError(f"--task-definition '{arn}' is not a task definition ARN")
        task_definition = _described(ecs, arn)
        problem = plan.container_problem(task_definition, settings.container)
        if problem:
            raise UsageError(problem)
    stop = StopSignal()
    try:
        with stop.catching(), github.group("migrate"):
            result = run_migration(
                ecs,
                aws.client("logs", region),
                cluster=environment.cluster,
                task_definition=task_definition,
                container=settings.container,
                command=settings.command,
                launch=launch_settings(description),
                poll=environment.wait.poll,
                timeout=settings.timeout,
                stop=stop,
                report=console.info,
            )
    except Interrupted as exc:
        left = exc.left_behind or "the migration task keeps running in ECS"
        console.info(f"{exc}: stopped waiting; {left}")
        return EXIT_FAILED
    for line in result.log_tail:
        console.info(f"  | {github.mask_text(line)}")
    outcome: dict[str, Any] = {**result.to_record(), "ok": result.ok}
    github.set_outputs({"task_arn": result.task_arn, "exit_code": result.exit_code})
    github.append_summary(
        f"## shipline migrate `{environment.name}`: {'succeeded' if result.ok else 'FAILED'}\n\n"
        f"Task definition `{result.task_definition.rsplit('/', 1)[-1]}`, exit code "
        f"{result.exit_code}"
        + (f" ({github.markdown_inline(github.mask_text(result.reason))})" if result.reason else "")
        + "\n"
    )
    if args.json:
        console.emit_json({**outcome, "log_tail": list(result.log_tail)})
    if result.ok:
        console.info("migration succeeded (exit code 0)")
        return EXIT_OK
    message = f"migration failed (exit code {result.exit_code}): {result.reason}"
    github.error(message, title="shipline migrate")
    console.info(message)
    return EXIT_FAILED


def _active_service(ecs: Any, cluster: str, name: str) -> dict[str, Any]:
    from shipline.errors import PreflightError

    found = ecs.describe_services(cluster=cluster, services=[name]).get("services", [])
    if not found or found[0].get("status") != "ACTIVE":
        raise PreflightError(f"service '{name}' is not an ACTIVE service of cluster '{cluster}'")
    return dict(found[0])


def _described(ecs: Any, arn: str) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    from shipline.errors import PreflightError

    try:
        return dict(ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"])
    except ClientError as exc:
        raise PreflightError(f"task definition {arn} cannot be read: {exc}") from exc


def _refuse_when_locked(environment: Any) -> None:
    """A migration during someone else's release would race it: refuse (exit 2)."""
    from shipline.errors import LockedError
    from shipline.release.history import Lock

    held = Lock(environment).status()
    if held is not None and not held.expired():
        raise LockedError(
            f"environment {environment.name} is locked by {held.describe()}; "
            "run the migration when that release is done"
        )
