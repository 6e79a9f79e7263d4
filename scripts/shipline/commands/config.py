"""`shipline config check`: validate shipline.yml and list every problem at once."""

from __future__ import annotations

import argparse

from shipline import console
from shipline.errors import EXIT_OK, EXIT_REFUSED, ConfigError

HELP = "validate shipline.yml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser(
        "check", help="validate shipline.yml; exit 2 listing every problem (warnings: exit 0)"
    )


def run(args: argparse.Namespace) -> int:
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
