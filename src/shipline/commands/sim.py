"""`shipline sim`: the local AWS sandbox on loopback; `shipline sim seed`: its demo environment.

The sandbox's own command line (`shipline.sim.cli`) parses and runs it; this command adds only
the refusal of the common `--json` option.
"""

from __future__ import annotations

import argparse

from shipline.errors import UsageError
from shipline.sim import cli as sandbox

HELP = sandbox.HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sandbox.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.json:  # plain text only: accepting --json would mislead
        raise UsageError(
            "sim takes no --json: it prints plain text (its URL; with seed, export lines)"
        )
    return sandbox.run(args)
