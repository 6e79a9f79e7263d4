"""One module per sub-command.

Each module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.
Modules import heavy libraries (boto3, moto) inside `run`, so `shipline --help` stays fast.
What more than one command shares (an action, an input) is defined here.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from shipline.env.from_terraform import TerraformOutput

FROM_TERRAFORM = "from-terraform"


def add_environment(parser: argparse.ArgumentParser) -> None:
    """`-e/--environment ENV`: the environment of shipline.yml a command works on."""
    parser.add_argument(
        "-e", "--environment", required=True, metavar="ENV", help="environment in shipline.yml"
    )


def add_from_terraform(actions: Any, *, help: str, description: str) -> argparse.ArgumentParser:
    """The `from-terraform` action of a command (`env`, `config`): it reads the blueprint's
    `terraform output -json` from --outputs FILE. `actions`: the command's sub-parsers."""
    parser: argparse.ArgumentParser = actions.add_parser(
        FROM_TERRAFORM, help=help, description=description
    )
    parser.add_argument(
        "--outputs", required=True, metavar="FILE", help="`terraform output -json` ('-': stdin)"
    )
    return parser


def read_terraform_outputs(path: str) -> tuple[dict[str, TerraformOutput], str]:
    """The outputs in `terraform output -json` file `path` ('-': stdin), and how messages
    name it; UsageError (exit 2) when it cannot be read or is not that document."""
    from shipline import inputs
    from shipline.env.from_terraform import parse_terraform_outputs

    source = inputs.source_name(path)
    text = inputs.read_text(path, "Terraform outputs file", stdin=True)
    return parse_terraform_outputs(text, source), source


Number = TypeVar("Number", int, float)


def at_least(
    parse: Callable[[str], Number], minimum: Number, noun: str, unit: str = ""
) -> Callable[[str], Number]:
    """An argparse type: `parse(text)`, refused when it is not a finite number of `minimum` or
    more (`noun` says what was expected, `unit` follows the minimum)."""

    def convert(text: str) -> Number:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not {noun}") from None
        if not minimum <= value < float("inf"):
            raise argparse.ArgumentTypeError(f"'{text}' must be {minimum} or more{unit}")
        return value

    return convert
