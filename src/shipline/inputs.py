"""Files a user hands to a command, read and parsed with a one-line reason when they are bad.

Every mistake is a UsageError (exit 2) that names the file; none quotes its content, which
may hold a secret.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shipline.errors import UsageError

STDIN = "-"


def source_name(path: str | Path) -> str:
    """How messages name the input: `stdin` for '-', else the path."""
    return "stdin" if str(path) == STDIN else str(path)


def read_text(path: str | Path, what: str, *, stdin: bool = False) -> str:
    """The UTF-8 text of the file at `path` (with `stdin`, '-' reads standard input); `what`
    names the kind of file in messages ("env file"); a byte that is not UTF-8, by its line."""
    source = str(path)
    if stdin and source == STDIN:
        return sys.stdin.read()
    article = "an" if what[:1].lower() in "aeiou" else "a"
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise UsageError(f"{source}: {what} not found") from exc
    except IsADirectoryError as exc:
        raise UsageError(f"{source}: is a directory, not {article} {what}") from exc
    except OSError as exc:
        raise UsageError(f"{source}: cannot read {what}: {exc.strerror or exc}") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UsageError(f"{source}:{line}: not UTF-8 text") from exc


def json_document(
    text: str, source: str, expected: str, error: type[UsageError] = UsageError
) -> Any:
    """`text` parsed as JSON; `error` naming the line and what was `expected` when it is not."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(
            f"{source}: not JSON ({exc.msg}, line {exc.lineno}); expected {expected}"
        ) from None
