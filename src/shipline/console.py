"""Where output goes: human progress on stderr, a command's result as JSON on stdout."""

from __future__ import annotations

import json
import sys
from typing import Any

from shipline import github

# Where a message has line breaks (foreign text often has), the lines after the first are
# indented with this, so none of them starts a line of the log as if it were ours.
CONTINUED = "  | "


def info(message: str) -> None:
    """One line of human progress (stderr, flushed: CI logs show it as it happens).

    Any message may carry foreign text (an ECS event, a log line, an AWS error): in GitHub
    Actions the runner reads none of it as a workflow command (`github.command_proof`).
    """
    first, *rest = message.splitlines() or [""]
    text = "\n".join([first, *(CONTINUED + line for line in rest)])
    with github.LOG_LOCK:
        sys.stderr.write(github.command_proof(text) + "\n")
        sys.stderr.flush()


def result(message: str, *, as_json: bool = False) -> None:
    """One line of a command's result for people: stdout, so `cmd > file` keeps it and the
    progress stays on the terminal. With --json stdout holds the document: the line is progress."""
    if as_json:
        info(message)
        return
    with github.LOG_LOCK:
        sys.stdout.write(github.command_proof(message) + "\n")
        sys.stdout.flush()


# How many JSON documents this command printed: the error boundary adds its error document
# only when the command printed none (one document per run, whatever ends it).
_documents_emitted = 0


def emit_json(result: Any) -> None:
    """A command's result for machines (stdout).

    `##[` is written `##\\u005b`: the same JSON, but no line the runner reads as a command.
    """
    global _documents_emitted
    text = json.dumps(result, indent=2, sort_keys=True, default=str)
    sys.stdout.write(text.replace("##[", "##\\u005b") + "\n")
    sys.stdout.flush()
    _documents_emitted += 1


def json_emitted() -> bool:
    return _documents_emitted > 0


def forget_emitted() -> None:
    """A new command starts (tests run several in one process)."""
    global _documents_emitted
    _documents_emitted = 0
