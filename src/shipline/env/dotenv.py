"""dotenv files: `KEY=value` lines, read strictly, every mistake named by its line number.

Accepted: blank lines, `# comments`, an optional `export ` prefix, unquoted values (a ` #`
starts a comment), 'single-quoted' values taken literally and "double-quoted" values with the
escapes \\n \\t \\" \\\\; both quoted forms may span lines. Values are never expanded (`$VAR`
stays as written). Error messages never quote a line: it may hold a secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from shipline.errors import UsageError
from shipline.inputs import read_text

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


@dataclass(frozen=True)
class EnvEntry:
    key: str
    value: str
    line: int


def read_env_file(path: str | Path) -> dict[str, str]:
    """The file's variables; UsageError (exit 2) naming the file and line when it is malformed."""
    source = str(path)
    text = read_text(path, "env file")
    return {entry.key: entry.value for entry in parse_env_text(text, source)}


def parse_env_text(text: str, source: str = "<env>") -> list[EnvEntry]:
    """Every entry of a dotenv text, in order; duplicate keys and bad lines are errors."""
    # Only real line breaks: str.splitlines() would also split at form feeds or U+2028.
    lines = re.split(r"\r\n|\r|\n", text.removeprefix("\ufeff"))
    entries: list[EnvEntry] = []
    first_line: dict[str, int] = {}
    index = 0
    while index < len(lines):
        number = index + 1
        stripped = lines[index].strip()
        if not stripped or stripped.startswith("#"):
            index += 1
            continue
        if stripped.startswith("export ") or stripped.startswith("export\t"):
            stripped = stripped[len("export") :].lstrip()
        key, sep, rest = stripped.partition("=")
        key = key.rstrip()
        if not sep:
            raise UsageError(f"{source}:{number}: expected KEY=VALUE")
        if not _KEY.fullmatch(key):
            raise UsageError(
                f"{source}:{number}: invalid variable name (letters, digits and '_', "
                "not starting with a digit)"
            )
        value, index = _value(rest.lstrip(), lines, index, source)
        if key in first_line:
            raise UsageError(
                f"{source}:{number}: duplicate key {key} (first set on line {first_line[key]})"
            )
        first_line[key] = number
        entries.append(EnvEntry(key, value, number))
    return entries


def _value(rest: str, lines: list[str], index: int, source: str) -> tuple[str, int]:
    """The value starting at `rest` on line `index`, and the index of the next line to read."""
    number = index + 1
    if not rest or rest[0] not in {"'", '"'}:
        comment = re.search(r"\s#", rest)
        value = rest[: comment.start()] if comment else rest
        return value.rstrip(), index + 1
    quote = rest[0]
    text = rest[1:]
    collected: list[str] = []
    while True:
        end = _closing_quote(text, quote)
        if end is not None:
            collected.append(text[:end])
            tail = text[end + 1 :].strip()
            if tail and not tail.startswith("#"):
                raise UsageError(f"{source}:{index + 1}: unexpected text after the closing quote")
            raw = "\n".join(collected)
            return (_unescape(raw) if quote == '"' else raw), index + 1
        collected.append(text)
        index += 1
        if index >= len(lines):
            raise UsageError(f"{source}:{number}: quoted value is never closed")
        text = lines[index]


def _closing_quote(text: str, quote: str) -> int | None:
    position = 0
    while position < len(text):
        char = text[position]
        if quote == '"' and char == "\\":
            position += 2
            continue
        if char == quote:
            return position
        position += 1
    return None


def _unescape(raw: str) -> str:
    return re.sub(r"\\(.)", lambda match: _ESCAPES.get(match[1], match[0]), raw)
