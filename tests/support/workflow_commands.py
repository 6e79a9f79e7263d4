"""How the GitHub runner reads workflow commands in a step's output, for tests to read a job
log as it does.

Modelled on actions/runner: src/Runner.Common/ActionCommand.cs (TryParseV2: a line that
starts with `::` after leading blanks, `::name props::data`; TryParse, the legacy form:
`##[name props]data` anywhere in a line) and src/Runner.Worker/ActionCommandManager.cs
(a name counts only when registered; `stop-commands` pauses every command until a line whose
command name is the token it gave). Lines end at \\r\\n, \\n or \\r (.NET's ReadLine).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The command extensions the runner registers (ActionCommandManager.cs), and stop-commands.
REGISTERED = frozenset(
    {
        "set-env",
        "set-output",
        "save-state",
        "add-mask",
        "add-path",
        "add-matcher",
        "remove-matcher",
        "debug",
        "warning",
        "error",
        "notice",
        "group",
        "endgroup",
        "echo",
        "stop-commands",
    }
)


@dataclass(frozen=True)
class Command:
    name: str
    data: str
    properties: dict[str, str] = field(default_factory=dict)
    line: str = ""


def lines_of(log: str) -> list[str]:
    return re.split(r"\r\n|\n|\r", log)


def parse(line: str, registered: set[str] | frozenset[str]) -> Command | None:
    """The command a line is, as TryParseV2 then TryParse would read it; None for text."""
    return _parse_v2(line, registered) or _parse_legacy(line, registered)


def _parse_v2(line: str, registered: set[str] | frozenset[str]) -> Command | None:
    message = line.lstrip()
    if not message.startswith("::"):
        return None
    end = message.find("::", 2)
    if end < 0:
        return None
    info = message[2:end]
    name, _, props = info.partition(" ")
    if name.lower() not in {r.lower() for r in registered}:
        return None
    properties = {}
    for item in (p for p in props.strip().split(",") if p):
        key, sep, value = item.partition("=")
        if sep and key and value:
            properties[key] = value
    return Command(name, message[end + 2 :], properties, line)


def _parse_legacy(line: str, registered: set[str] | frozenset[str]) -> Command | None:
    start = line.find("##[")
    if start < 0:
        return None
    close = line.find("]", start)
    if close < 0:
        return None
    info = line[start + 3 : close]
    name, _, props = info.partition(" ")
    if name.lower() not in {r.lower() for r in registered}:
        return None
    properties = {}
    for item in (p for p in props.split(";") if p):
        key, sep, value = item.partition("=")
        if sep and key and value:
            properties[key] = value
    return Command(name, line[close + 1 :], properties, line)


def processed_commands(log: str) -> tuple[list[Command], bool]:
    """The commands the runner would act on, in order, and whether it is still paused by a
    stop-commands at the end of the log."""
    registered = set(REGISTERED)
    acted: list[Command] = []
    stop_token: str | None = None
    for line in lines_of(log):
        command = parse(line, registered)
        if command is None:
            continue
        if stop_token is not None:
            if command.name.lower() == stop_token.lower():
                registered.discard(stop_token)
                stop_token = None
                acted.append(command)
            continue
        if command.name.lower() == "stop-commands":
            stop_token = command.data
            registered.add(stop_token)
        acted.append(command)
    return acted, stop_token is not None
