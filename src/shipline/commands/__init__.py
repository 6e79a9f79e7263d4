"""One module per sub-command.

Each module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.
Modules import heavy libraries (boto3, moto) inside `run`, so `shipline --help` stays fast.
"""
