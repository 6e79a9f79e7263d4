"""The command line: one parser, one sub-command per module in `shipline.commands`.

This is the one boundary where errors become a one-line message and an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from shipline import __version__, commands, console
from shipline.errors import EXIT_FAILED, EXIT_REFUSED, ShiplineError

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it


class ArgumentsRefused(SystemExit):
    """A usage error found by argparse (exit 2); `reason` is what the stderr line says."""

    def __init__(self, reason: str) -> None:
        super().__init__(EXIT_REFUSED)
        self.reason = reason


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error: the reason and where to look, exit 2."""

    def error(self, message: str) -> NoReturn:
        reason = f"{message} (see '{self.prog} --help')"
        sys.stderr.write(f"{self.prog}: error: {reason}\n")
        raise ArgumentsRefused(reason)


def command_modules() -> dict[str, ModuleType]:
    """Every sub-command, named after its module (`env_` would be `env`)."""
    found = {}
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        found[info.name.rstrip("_")] = importlib.import_module(f"shipline.commands.{info.name}")
    return found


def add_common_options(parser: argparse.ArgumentParser, *, nested: bool = False) -> None:
    """Options every sub-command takes, also after a nested action (`lock status --json`).

    On nested parsers the defaults are suppressed, so a value given before the action is kept.
    """

    def default(value: object) -> object:
        return argparse.SUPPRESS if nested else value

    parser.add_argument(
        "--config",
        default=default(os.environ.get("SHIPLINE_CONFIG", "shipline.yml")),
        help="path to shipline.yml (default: $SHIPLINE_CONFIG or ./shipline.yml)",
    )
    parser.add_argument(
        "--json", action="store_true", default=default(False), help="print the result as JSON"
    )
    parser.add_argument(
        "--debug", action="store_true", default=default(False), help="show tracebacks"
    )
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument(
        "--verbose",
        action="store_true",
        default=default(False),
        help="show every progress line (each ECS event, each poll, each step's details)",
    )
    noise.add_argument(
        "--quiet",
        action="store_true",
        default=default(False),
        help="show only the end: the closing table, the last line and errors",
    )


def nested_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = []
    for action in parser._actions:  # argparse offers no public way to walk sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found += [child, *nested_parsers(child)]
    return found


def build_parser() -> Parser:
    parser = Parser(
        prog="shipline",
        description="Release web apps to AWS ECS: build, migrate, roll out, verify, roll back.",
    )
    parser.add_argument("--version", action="version", version=f"shipline {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name, module in command_modules().items():
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        add_common_options(command)
        module.add_arguments(command)
        for child in nested_parsers(command):
            add_common_options(child, nested=True)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; inside GitHub Actions also publish its exit code as `exit-code`.

    The actions `exec` shipline so that a cancel's SIGINT reaches it (bash would not pass it
    on), which leaves no shell behind to write the exit code: this boundary writes it.
    """
    outcome: int | str | None = EXIT_FAILED
    try:
        outcome = run_command(argv)
        return outcome
    except SystemExit as exc:  # argparse: --help, --version, a usage error
        outcome = exc.code
        raise
    finally:
        publish_exit_code(outcome)


def publish_exit_code(code: int | str | None) -> None:
    """The `exit-code` step output (only inside Actions; a write failure is not the command's)."""
    from shipline import github

    number = code if isinstance(code, int) else (0 if code is None else EXIT_REFUSED)
    try:
        github.set_outputs({"exit-code": number})
    except OSError as exc:
        sys.stderr.write(f"shipline: warning: could not write the exit-code output: {exc}\n")


def run_command(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    console.forget_emitted()
    console.configure()
    try:
        args = parser.parse_args(argv)
    except ArgumentsRefused as exc:  # no args yet: --json is read from the words themselves
        if "--json" in (sys.argv[1:] if argv is None else argv):
            console.emit_json(error_document(exc.reason, EXIT_REFUSED))
        raise
    console.configure(verbose=args.verbose, quiet=args.quiet)
    try:
        return int(args.run(args))
    except ShiplineError as exc:
        if args.debug:
            raise
        return render_error(exc.message, exc.exit_code, as_json=args.json)
    except KeyboardInterrupt:
        sys.stderr.write("shipline: interrupted\n")
        if args.json and not console.json_emitted():
            console.emit_json(error_document("interrupted", EXIT_INTERRUPTED))
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        return render_error(describe_unexpected(exc), EXIT_FAILED, as_json=args.json)


def render_error(message: str, exit_code: int, *, as_json: bool) -> int:
    """The one stderr line; with --json also the error document, unless the command printed its
    own result before it gave up (`terraform plan --json` prints the refused plan)."""
    console.info(f"shipline: error: {message}")  # the message may quote foreign text
    if as_json and not console.json_emitted():
        console.emit_json(error_document(message, exit_code))
    return exit_code


def error_document(message: str, exit_code: int) -> dict[str, object]:
    """What every command prints on stdout with --json when it ends in an error."""
    status = "refused" if exit_code == EXIT_REFUSED else "failed"
    return {"status": status, "exit_code": exit_code, "error": message}


def describe_unexpected(exc: Exception) -> str:
    """One line for an error no command turned into a ShiplineError (AWS or network ones)."""
    from shipline.aws import unusable

    origin = type(exc).__module__.split(".")[0]
    if origin in {"botocore", "boto3"}:
        return unusable(exc) or f"AWS: {exc} (run with --debug for details)"
    if origin in {"requests", "urllib3"}:
        return f"network: {exc} (run with --debug for details)"
    return f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)"


if __name__ == "__main__":
    sys.exit(main())
