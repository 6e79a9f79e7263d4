"""One module per sub-command.

Each module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.
Modules import heavy libraries (boto3, moto) inside `run`, so `shipline --help` stays fast.
What more than one command shares (an action, an input) is defined here.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipline.env.from_terraform import TerraformOutput

FROM_TERRAFORM = "from-terraform"


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
