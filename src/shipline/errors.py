"""Errors that carry the user's message and the exit code it maps to.

Commands raise these; `cli.main` is the one boundary that turns them into a one-line message
and an exit code. Anything else reaching that boundary is a bug and is reported as such.
"""

from __future__ import annotations

# Exit codes shared by every command that changes something (see docs/deploy.md).
EXIT_OK = 0
EXIT_FAILED = 1  # failed, and the environment is as it was
EXIT_REFUSED = 2  # refused before any change: bad input, config, preflight, lock
EXIT_DAMAGED = 3  # failed, and the environment is NOT as it was: a person must act


class ShiplineError(Exception):
    """An expected failure with a message meant for the user."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self)


class UsageError(ShiplineError):
    """Bad input: arguments, files, references. Nothing was changed."""

    exit_code = EXIT_REFUSED


class ConfigError(UsageError):
    """shipline.yml is missing or invalid; carries every problem found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{source}: {count} {noun}: " + "; ".join(problems))


class PreflightError(UsageError):
    """A check before any change failed."""


class LockedError(UsageError):
    """The environment's release lock is held by another release."""
