"""Run the CLI as a person does: stderr on a pseudo-terminal (Python's `pty`), stdout a pipe.

`on_terminal` returns the raw bytes the terminal received and `screen`, the lines a person
reads once the terminal has applied them: a carriage return starts the line again, `ESC [ K`
erases what follows, colour codes (SGR) are not text.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass

ESCAPE = re.compile(rb"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class TerminalRun:
    code: int
    raw: bytes  # what the terminal (stderr) received
    stdout: str

    @property
    def screen(self) -> list[str]:
        return screen_lines(self.raw)


def screen_lines(raw: bytes) -> list[str]:
    """The lines left on a terminal by `raw` (the pty turned each \\n into \\r\\n)."""
    lines = []
    for line in raw.replace(b"\r\n", b"\n").split(b"\n"):
        shown = line.rsplit(b"\r", 1)[-1]  # a carriage return writes the line again
        lines.append(ESCAPE.sub(b"", shown).decode("utf-8", "replace"))
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def on_terminal(
    *args: str, environ: Mapping[str, str] | None = None, timeout: float = 120.0
) -> TerminalRun:
    """`python -m shipline ARGS` with stderr on a pty (TERM=xterm-256color, no NO_COLOR and
    no GITHUB_ACTIONS unless `environ` sets them) and stdout on a pipe."""
    env = {k: v for k, v in os.environ.items() if k not in {"NO_COLOR", "GITHUB_ACTIONS"}}
    env |= {"TERM": "xterm-256color", "COLUMNS": "200"}
    env |= dict(environ or {})
    controller, terminal = pty.openpty()
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the last writer closed the terminal
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "shipline", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=terminal,
            env=env,
            timeout=timeout,
            check=False,
        )
    finally:
        os.close(terminal)
    reader.join(timeout=10)
    os.close(controller)
    return TerminalRun(done.returncode, b"".join(chunks), done.stdout.decode())
