"""`shipline config check`: validate shipline.yml and list every problem at once."""

from __future__ import annotations

import argparse

from shipline import console
from shipline.errors import EXIT_OK, EXIT_REFUSED, ConfigError

HELP = "validate shipline.yml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("check", help="validate shipline.yml; exit 2 listing every problem")


def run(args: argparse.Namespace) -> int:
    from shipline.config import load_config

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
    summary = {name: sorted(env.services) for name, env in sorted(config.environments.items())}
    if args.json:
        console.emit_json({"valid": True, "file": config.source, "environments": summary})
    described = "; ".join(f"{name}: {', '.join(keys)}" for name, keys in summary.items())
    console.info(f"{config.source}: valid ({described})")
    return EXIT_OK
