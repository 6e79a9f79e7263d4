"""Where output goes: human progress on stderr, a command's result on stdout.

Progress has three levels (`Level`). `--quiet` shows a command's end only (its closing table,
its last line, errors); the default adds one line per phase with its duration (`phase`) and the
lines that matter on the way (failures, the ECS events that explain them, heartbeats while a
wait goes on); `--verbose` shows every line. `LINE_LEVELS` is the one place that decides a
progress line's level, by its shape; `phase` and `end` print the lines whose level is their
purpose.

Inside GitHub Actions each phase is a folded `::group::` holding all of its lines, details
included, followed by the phase's line with its duration. Colour, and the running phase's line
redrawn in place, are for a terminal only (`wants_colour`). Image digests in a release's
progress are shortened to 12 hex digits; records, `--json`, outputs and summaries keep them
whole.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Literal, TextIO

from shipline import github

# Where a message has line breaks (foreign text often has), the lines after the first are
# indented with this, so none of them starts a line of the log as if it were ours.
CONTINUED = "  | "
# Lines printed while a phase runs are indented under it.
INSIDE = "    "


class Level(IntEnum):
    """How much a progress line matters; a line is shown when its level is within the
    command's verbosity."""

    END = 0  # the closing table, the last line, errors: shown even with --quiet
    STEP = 1  # phases, failures, the events that matter, heartbeats: the default
    DETAIL = 2  # everything else: --verbose (and the folded groups in GitHub Actions)


Verbosity = Literal["quiet", "default", "verbose"]

# The level of a progress line by its shape: the first pattern that matches the start of the
# line decides. A line no pattern matches is a STEP, so a new message is seen by default.
LINE_LEVELS: tuple[tuple[str, Level], ...] = (
    (r"shipline: error: ", Level.END),
    (r"unexpected error: ", Level.END),
    (r"the release record could not be written", Level.END),
    (r"the lock could not be released", Level.END),
    (r"waiting ", Level.STEP),  # a heartbeat while a wait goes on
    (r"== ", Level.DETAIL),  # a phase starts (its line with the duration is the STEP)
    (r"image \S+: \S+$", Level.DETAIL),  # a tag pinned to its digest
    (r"\S+: \S+ -> \S+:(\(new revision\)|\d+) \(", Level.DETAIL),  # the table has it
    (r"release \S+: (locked|continuing with the lock)", Level.DETAIL),
    (r"\S+: (registered|using) \S+$", Level.DETAIL),
    (r"registered \S+$", Level.DETAIL),
    (r"migration: exit code 0$", Level.DETAIL),
    (r"migration task( \S+ started: |: )", Level.DETAIL),
    (r"updated \d+ service\(s\); waiting for them together$", Level.DETAIL),
    (r"\S+ \(\S+\): (waiting|succeeded): ", Level.DETAIL),  # per poll; the table has the end
    (r"\S+ \(\S+\): event: ", Level.DETAIL),  # routine ECS events (release/ecs_events.py)
    (r"\S+: (healthy|not healthy yet) \(", Level.DETAIL),
    (r"rolling back every moved service", Level.DETAIL),
    (r"\S+: already there, left as it is$", Level.DETAIL),
    (r"\S+: \S+ was (deregistered|deleted) since; registered it again as ", Level.DETAIL),
    (r"demo: (starting|AWS API calls made)", Level.DETAIL),
)
_LINE_LEVELS = tuple((re.compile(pattern), level) for pattern, level in LINE_LEVELS)

SHORT_DIGEST = 12  # hex digits of a sha256 digest shown in a release's progress
_DIGEST = re.compile(rf"\bsha256:([0-9a-f]{{{SHORT_DIGEST}}})[0-9a-f]{{{64 - SHORT_DIGEST}}}\b")

# ANSI SGR codes (ECMA-48): only ever written when `wants_colour`.
DIM, BOLD, RED, GREEN, YELLOW, RESET = "2", "1", "31", "32", "33", "0"
_CLEAR_LINE = "\r\x1b[K"  # back to the start of the line and erase it (ECMA-48 EL)
PHASE_WIDTH = 32  # the phase lines' durations line up after this many characters


def level_of(line: str) -> Level:
    """The level of one progress line (its first line, when it has several)."""
    for pattern, level in _LINE_LEVELS:
        if pattern.match(line):
            return level
    return Level.STEP


def short_digests(text: str) -> str:
    """Every sha256 digest in `text` cut to its first 12 hex digits (`sha256:1a2b3c4d5e6f`)."""
    return _DIGEST.sub(r"sha256:\1", text)


def wants_colour(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Colour only on a terminal: `stream` is a tty, NO_COLOR is unset or empty (no-color.org:
    "when present and not an empty string ... prevents the addition of ANSI color"), and TERM
    is not `dumb` (a terminal without escape sequences). A GitHub Actions log is a pipe, not a
    tty, so it gets none."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        tty = False
    return tty and not environ.get("NO_COLOR") and environ.get("TERM") != "dumb"


def seconds_text(seconds: float) -> str:
    """`0.4s`, `12.3s`, `2m05s`."""
    if round(seconds, 1) < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


@dataclass
class Phase:
    """One running phase; `fail()` marks its line FAILED (the phase ended, but badly)."""

    title: str
    started: float = field(default_factory=time.monotonic)
    failed: bool = False
    header_shown: bool = False  # its name is on the screen above the lines printed inside

    def fail(self) -> None:
        self.failed = True


@dataclass
class _Output:
    verbosity: Verbosity = "default"
    colour: bool = False
    phases: list[Phase] = field(default_factory=list)
    pending: Phase | None = None  # its line is on the terminal, unfinished (no newline yet)
    release: bool = False  # a release's output: --quiet keeps only its end


_output = _Output()


def configure(*, verbose: bool = False, quiet: bool = False) -> None:
    """A command starts: its verbosity, and colour when stderr is a terminal that wants it."""
    global _output
    verbosity: Verbosity = "verbose" if verbose else "quiet" if quiet else "default"
    _output = _Output(verbosity, wants_colour(sys.stderr, os.environ))


def release_output() -> None:
    """This command prints a release's output (deploy, rollback, migrate, the demo): with
    --quiet only its end. Other commands' lines are their answer: --quiet hides details only."""
    _output.release = True


def shows(level: Level) -> bool:
    """Whether a line of `level` is printed: in GitHub Actions the default shows every line
    (the details sit in folded groups)."""
    if _output.verbosity == "quiet":
        return level == Level.END or (level == Level.STEP and not _output.release)
    if _output.verbosity == "verbose" or github.in_actions():
        return True
    return level <= Level.STEP


def paint(text: str, *styles: str) -> str:
    if not _output.colour or not text or not styles:
        return text
    return f"\x1b[{';'.join(styles)}m{text}\x1b[{RESET}m"


def info(message: str) -> None:
    """One line of human progress (stderr, flushed: CI logs show it as it happens), when its
    level (`level_of`) is within the command's verbosity.

    Any message may carry foreign text (an ECS event, a log line, an AWS error): in GitHub
    Actions the runner reads none of it as a workflow command (`github.command_proof`).
    """
    level = level_of(message)
    if shows(level):
        _emit(message, level)


def end(message: str, *styles: str) -> None:
    """One line of a command's end (its closing table, its last line): shown at every level."""
    _emit(message, Level.END, styles)


def end_table(rows: Sequence[Sequence[str]], styles: Sequence[Sequence[str]] = ()) -> None:
    """The closing table (its first row is the header), columns lined up; `styles[i][j]` is the
    colour of row i+1's cell j (on a terminal)."""
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for number, row in enumerate(rows):
        painted = []
        for column, cell in enumerate(row):
            text = cell.ljust(widths[column]) if column < len(row) - 1 else cell
            row_styles = styles[number - 1] if 0 < number <= len(styles) else ()
            style = row_styles[column] if column < len(row_styles) else ""
            painted.append(paint(text, style) if style else text)
        line = "  " + "  ".join(painted).rstrip()
        _emit(line, Level.END, (BOLD,) if number == 0 else ())


def phase_line(title: str, seconds: float, *, failed: bool = False) -> str:
    """`  preflight ..................... 0.4s` (`FAILED` after the time when it failed)."""
    dots = "." * max(3, PHASE_WIDTH - len(title))
    line = f"  {title} {paint(dots, DIM)} {seconds_text(seconds)}"
    return line + (" " + paint("FAILED", RED, BOLD) if failed else "")


@contextmanager
def phase(title: str) -> Iterator[Phase]:
    """One phase of a release: in GitHub Actions a folded group; then one line with its
    duration (after everything printed inside it). An exception out of it marks it FAILED."""
    step = Phase(title)
    grouped = github.in_actions() and _output.verbosity != "quiet"
    _open(step)
    try:
        with github.group(title) if grouped else nullcontext():
            yield step
    except BaseException:
        step.failed = True
        raise
    finally:
        _close(step)


def _open(step: Phase) -> None:
    with github.LOG_LOCK:
        if _output.phases:  # a phase inside another: the outer one's name goes above it
            _show_header(_output.phases[-1])
        _output.phases.append(step)
        if not shows(Level.STEP):
            return
        if github.in_actions():
            step.header_shown = True  # the group's title
        elif _output.verbosity == "verbose":
            _write(paint(f"== {step.title}", DIM))
            step.header_shown = True
        elif _live():
            sys.stderr.write(f"  {step.title} ...")
            sys.stderr.flush()
            _output.pending = step


def _close(step: Phase) -> None:
    with github.LOG_LOCK:
        if step in _output.phases:
            _output.phases.remove(step)
        if not shows(Level.STEP):
            return
        line = phase_line(step.title, time.monotonic() - step.started, failed=step.failed)
        if _output.pending is step:
            sys.stderr.write(_CLEAR_LINE)
            _output.pending = None
        _write(line)


def _live() -> bool:
    """A terminal where the running phase's line is drawn, then finished in place."""
    return _output.colour and _output.verbosity == "default" and not github.in_actions()


def _show_header(step: Phase) -> None:
    """Before the first line printed inside `step`: its name above it (caller holds the lock)."""
    if step.header_shown or not shows(Level.STEP):
        return
    step.header_shown = True
    if _output.pending is step:
        sys.stderr.write("\n")  # the unfinished line stays as the header
        _output.pending = None
    else:
        _write(f"  {step.title} ...")


def _emit(message: str, level: Level, styles: Sequence[str] = ()) -> None:
    first, *rest = message.splitlines() or [""]
    with github.LOG_LOCK:
        inside = bool(_output.phases)
        if inside:
            _show_header(_output.phases[-1])
        elif _output.pending is not None:  # only a phase's own line may stay unfinished
            _show_header(_output.pending)
        lines = [first, *(CONTINUED + line for line in rest)]
        if inside:
            lines = [short_digests(line) for line in lines]
            if not github.in_actions():
                lines = [INSIDE + line for line in lines]
        text = "\n".join(lines)
        if not styles:
            styles = (DIM,) if level == Level.DETAIL else (RED,) if _is_error(first) else ()
        _write(paint(text, *styles) if styles else text)


def _is_error(line: str) -> bool:
    return level_of(line) == Level.END


def _write(text: str) -> None:
    """One block of lines on stderr (the caller holds github.LOG_LOCK)."""
    sys.stderr.write(github.command_proof(text) + "\n")
    sys.stderr.flush()


def result(message: str, *, as_json: bool = False) -> None:
    """One line of a command's result for people: stdout, so `cmd > file` keeps it and the
    progress stays on the terminal. With --json stdout holds the document: the line is progress."""
    if as_json:
        info(message)
        return
    with github.LOG_LOCK:
        if _output.pending is not None:  # stdout may be the same terminal
            _show_header(_output.pending)
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
