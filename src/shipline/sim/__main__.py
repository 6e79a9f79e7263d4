"""`python -m shipline.sim`: `shipline sim` without loading the other sub-commands.

Test harnesses start the sandbox this way, so a sandbox never depends on unrelated commands.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from shipline.errors import ShiplineError
from shipline.sim import cli as sim


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shipline sim", description=sim.HELP)
    sim.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return sim.run(args)
    except ShiplineError as exc:
        sys.stderr.write(f"shipline: error: {exc.message}\n")
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
