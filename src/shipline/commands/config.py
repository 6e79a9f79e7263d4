"""`shipline config check|from-terraform`: validate shipline.yml, or write an environment of it
from the Terraform blueprint's outputs."""

from __future__ import annotations

import argparse
import sys

from shipline import console
from shipline.commands import (
    FROM_TERRAFORM,
    add_environment,
    add_from_terraform,
    read_terraform_outputs,
)
from shipline.errors import EXIT_OK, EXIT_REFUSED, ConfigError

HELP = "validate shipline.yml, or write an environment of it from Terraform outputs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser(
        "check",
        help="validate shipline.yml; exit 2 listing every problem (warnings: exit 0)",
    )
    terraform = add_from_terraform(
        actions,
        help="write an environment of shipline.yml from `terraform output -json`",
        description="Write the environment ENV of shipline.yml (cluster, services, containers, "
        "image keys, health URLs, the migration, the history) from the outputs of the "
        "blueprint in ops/infra/aws, on stdout (see docs/shipline-yml.md).",
    )
    add_environment(terraform)


def run(args: argparse.Namespace) -> int:
    if args.action == FROM_TERRAFORM:
        return from_terraform(args)
    return check(args)


def check(args: argparse.Namespace) -> int:
    from shipline import github
    from shipline.config import config_warnings, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        if args.json:
            console.emit_json({"valid": False, "file": exc.source, "problems": exc.problems})
        for problem in exc.problems:
            console.info(f"{exc.source}: {problem}")
        noun = "problem" if len(exc.problems) == 1 else "problems"
        console.info(f"{exc.source}: invalid ({len(exc.problems)} {noun})")
        return EXIT_REFUSED
    warnings = config_warnings(config)
    summary = {name: sorted(env.services) for name, env in sorted(config.environments.items())}
    if args.json:
        console.emit_json(
            {
                "valid": True,
                "file": config.source,
                "environments": summary,
                "promotion": list(config.promotion),
                "warnings": warnings,
            }
        )
    for warning in warnings:
        console.info(f"{config.source}: warning: {warning}")
        github.warning(warning, title=f"config check: {config.source}")
    described = "; ".join(f"{name}: {', '.join(keys)}" for name, keys in summary.items())
    noun = "warning" if len(warnings) == 1 else "warnings"
    counted = f", {len(warnings)} {noun}" if warnings else ""
    console.info(f"{config.source}: valid ({described}){counted}")
    return EXIT_OK


def from_terraform(args: argparse.Namespace) -> int:
    from shipline.configmap import config_from_terraform, render_yaml

    outputs, source = read_terraform_outputs(args.outputs)
    generated = config_from_terraform(outputs, args.environment)
    for note in generated.notes:
        console.info(f"config from-terraform: {note}")
    if args.json:
        console.emit_json(generated.document)
    else:
        sys.stdout.write(render_yaml(generated, source))
        sys.stdout.flush()
    services = ", ".join(generated.document["environments"][args.environment]["services"])
    console.info(f"config from-terraform: environment {args.environment} ({services})")
    return EXIT_OK
