"""GitHub Actions I/O: step outputs, the step summary, annotations, log groups and masks.

Inside Actions (`GITHUB_ACTIONS=true`) these write the runner's files and workflow commands;
outside, they do nothing, so commands call them unconditionally. Workflow commands go to
stderr (the runner reads commands from both streams), which keeps stdout for `--json`.

Foreign text (task logs, ECS events, AWS and registry errors, health bodies) reaches the job
log only through `command_proof` and the step summary only through `markdown_code_block` or
`markdown_inline`: the runner must never read a command in it, nor Markdown render it.
"""

from __future__ import annotations

import getpass
import os
import re
import secrets
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from shipline import sensitive

# GitHub refuses a step summary over 1 MiB; keep well inside it.
SUMMARY_LIMIT = 1024 * 1024 - 4096
_OUTPUT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

# The runner reads a line as a workflow command when it starts with `::` after blanks, or
# holds `##[` anywhere (actions/runner, ActionCommand.TryParseV2 and TryParse).
_COMMAND_MARKS = ("::", "##[")
# One write at a time to the log: a stop-commands fence must not swallow another thread's
# command, nor a command land inside another thread's fence.
LOG_LOCK = threading.Lock()


def in_actions(environ: Mapping[str, str] | None = None) -> bool:
    return (environ if environ is not None else os.environ).get("GITHUB_ACTIONS") == "true"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(name: str, message: str, stream: TextIO | None = None, **properties: Any) -> None:
    shown = ",".join(
        f"{key}={_escape_property(str(value))}"
        for key, value in properties.items()
        if value is not None
    )
    target = stream or sys.stderr
    with LOG_LOCK:
        target.write(f"::{name}{' ' + shown if shown else ''}::{_escape_data(message)}\n")
        target.flush()


def command_proof(text: str) -> str:
    """`text` as the job log must show it: never read as workflow commands.

    Inside Actions, text in which the runner could find a command (`::` or `##[` on any line)
    goes between `::stop-commands::TOKEN` and `::TOKEN::`; the runner processes no command in
    between, and TOKEN is random, so the text cannot end the fence itself. Outside Actions,
    or with nothing that looks like a command, `text` is returned as it is.
    """
    if not in_actions() or not any(mark in text for mark in _COMMAND_MARKS):
        return text
    token = secrets.token_hex(16)
    while token in text:  # only a text that quotes this very run's token could
        token = secrets.token_hex(16)
    return f"::stop-commands::{token}\n{text}\n::{token}::"


def _runner_file(variable: str) -> Path | None:
    if not in_actions():
        return None
    value = os.environ.get(variable)
    return Path(value) if value else None


def output_block(name: str, value: str, delimiter: str | None = None) -> str:
    """`name<<DELIM\\nvalue\\nDELIM\\n`: the $GITHUB_OUTPUT form that survives any newline."""
    if not _OUTPUT_NAME.fullmatch(name):
        raise ValueError(f"not a valid output name: {name!r}")
    delimiter = delimiter or f"ghadelimiter_{uuid.uuid4()}"
    if delimiter in name or delimiter in value:
        raise ValueError("output value contains its own delimiter")
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def set_outputs(outputs: Mapping[str, Any]) -> None:
    """Add step outputs (None becomes "", booleans true/false). No-op outside Actions."""
    target = _runner_file("GITHUB_OUTPUT")
    if target is None:
        return
    blocks = "".join(output_block(name, _text(value)) for name, value in outputs.items())
    with target.open("a", encoding="utf-8") as handle:
        handle.write(blocks)


def append_summary(markdown: str) -> None:
    """Append markdown to the job's step summary. No-op outside Actions."""
    target = _runner_file("GITHUB_STEP_SUMMARY")
    if target is None:
        return
    text = markdown if markdown.endswith("\n") else markdown + "\n"
    used = target.stat().st_size if target.exists() else 0
    room = SUMMARY_LIMIT - used
    if len(text.encode("utf-8")) > room:
        note = "\n_(summary cut: GitHub keeps at most 1 MiB)_\n"
        keep = max(room - len(note.encode("utf-8")), 0)
        text = text.encode("utf-8")[:keep].decode("utf-8", "ignore") + note
        if keep == 0:
            return
    with target.open("a", encoding="utf-8") as handle:
        handle.write(text)


def error(message: str, title: str | None = None, stream: TextIO | None = None) -> None:
    """An `::error::` annotation (one per failure). No-op outside Actions."""
    if in_actions():
        _command("error", message, stream, title=title)


def warning(message: str, title: str | None = None, stream: TextIO | None = None) -> None:
    if in_actions():
        _command("warning", message, stream, title=title)


def notice(message: str, title: str | None = None, stream: TextIO | None = None) -> None:
    if in_actions():
        _command("notice", message, stream, title=title)


@contextmanager
def group(title: str, stream: TextIO | None = None) -> Iterator[None]:
    """A foldable `::group::` in the job log around a phase. No-op outside Actions."""
    active = in_actions()
    if active:
        _command("group", title, stream)
    try:
        yield
    finally:
        if active:
            _command("endgroup", "", stream)


def mask(value: str | None, stream: TextIO | None = None) -> None:
    """`::add-mask::` so the runner hides `value` in the log; each line of a multi-line value
    is masked on its own (the runner matches line by line). No-op outside Actions."""
    if not value or not in_actions():
        return
    for line in value.splitlines():
        if line.strip():
            _command("add-mask", line, stream)


def mask_secret(name: str | None, value: str | None, stream: TextIO | None = None) -> bool:
    """`::add-mask::` every secret part of variable `name`'s value: the value when it is a
    secret, and each URL password in it on its own. Whether anything was masked."""
    parts = sensitive.secret_parts(name, value)
    for part in parts:
        mask(part, stream)
    return bool(parts)


def mask_environment(variables: Mapping[str, str]) -> list[str]:
    """Mask every secret part of `variables`; the names that had one."""
    return [name for name, value in variables.items() if mask_secret(name, value)]


def markdown_code_block(text: str, language: str = "") -> str:
    """A fenced code block that `text` cannot close: its fence is longer than any run of
    backticks in the text, so nothing in it renders (no heading, link or HTML)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}\n"


def markdown_inline(text: str) -> str:
    """Foreign text inside a line of Markdown (a sentence, a table cell): one code span on
    one line, which renders as the literal text. Escaping alone would not do: GitHub links
    bare URLs and e-mail addresses even when their punctuation is escaped."""
    flat = " ".join(text.splitlines()).strip()
    if not flat:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    ticks = "`" * (longest + 1)
    # One space inside each end is dropped by the parser; it lets the text touch a backtick.
    return f"{ticks} {flat} {ticks}"


def _cell(value: Any) -> str:
    return " ".join(_text(value).splitlines()).replace("|", "\\|")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table (pipes in cells escaped, newlines flattened)."""
    lines = [
        "| " + " | ".join(_cell(h) for h in headers) + " |",
        "| " + " | ".join("---" for _ in headers) + " |",
    ]
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class RunContext:
    """Who runs a release, from which commit and which Actions run (for the record)."""

    actor: str | None
    git_sha: str | None
    run_url: str | None

    @property
    def holder(self) -> str:
        """How the lock names its holder: `actor@host`."""
        host = os.uname().nodename if hasattr(os, "uname") else "localhost"
        return f"{self.actor or 'unknown'}@{host}"


def run_context(environ: Mapping[str, str] | None = None) -> RunContext:
    env = environ if environ is not None else os.environ
    actor = env.get("GITHUB_ACTOR")
    if not actor:
        try:
            actor = getpass.getuser()
        except (KeyError, OSError):
            actor = None
    run_url = None
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        run_url = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
        if env.get("GITHUB_RUN_ATTEMPT") and env["GITHUB_RUN_ATTEMPT"] != "1":
            run_url += f"/attempts/{env['GITHUB_RUN_ATTEMPT']}"
    return RunContext(actor=actor, git_sha=env.get("GITHUB_SHA") or None, run_url=run_url)
