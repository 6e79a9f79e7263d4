"""GitHub's own expression engine (@actions/expressions, pinned in tests/actions/expressions/),
driven over a subprocess: one Node process for the test session, JSON lines in and out, many
evaluations per call.

`make test` installs the engine (`npm ci` in that folder). A missing engine fails the tests that
need it; it never skips them.
"""

from __future__ import annotations

import atexit
import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

FOLDER = Path(__file__).resolve().parents[2] / "actions" / "expressions"
SCRIPT = FOLDER / "evaluate.mjs"
PACKAGE = FOLDER / "node_modules" / "@actions" / "expressions" / "package.json"


class ExpressionError(Exception):
    """GitHub's engine refused the expression (unknown name, function or syntax)."""


@dataclass(frozen=True)
class Status:
    """What the status functions return where the condition is evaluated."""

    success: bool
    failure: bool
    cancelled: bool


@dataclass(frozen=True)
class Request:
    """One evaluation: `mode` "if" (a condition) or "value" (a workflow value as written)."""

    text: str
    contexts: Mapping[str, Any]
    mode: str = "value"
    status: Status | None = None

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"text": self.text, "mode": self.mode, "contexts": self.contexts}
        if self.status is not None:
            found["status"] = vars(self.status)
        return found


class Engine:
    def __init__(self) -> None:
        node = shutil.which("node")
        if node is None:
            raise AssertionError("node is not installed: GitHub's expression engine runs on it")
        if not PACKAGE.exists():
            raise AssertionError(
                "GitHub's expression engine is not installed: run `make test` (or `npm ci` in "
                f"{FOLDER.relative_to(FOLDER.parents[2])})"
            )
        self._process = subprocess.Popen(
            [node, str(SCRIPT)],
            cwd=FOLDER,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def evaluate(self, requests: Sequence[Request]) -> list[Any]:
        """The values, in order; ExpressionError names the first expression GitHub refuses."""
        results = self.raw(requests)
        for request, result in zip(requests, results, strict=True):
            if "error" in result:
                raise ExpressionError(f"{request.text!r}: {result['error']}")
        return [
            result["truthy"] if r.mode == "if" else result["value"]
            for r, result in zip(requests, results, strict=True)
        ]

    def raw(self, requests: Sequence[Request]) -> list[dict[str, Any]]:
        assert self._process.stdin and self._process.stdout
        line = json.dumps({"requests": [request.as_json() for request in requests]})
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()
        answer = self._process.stdout.readline()
        if not answer:
            raise AssertionError(f"the expression engine stopped ({self._process.poll()})")
        return json.loads(answer)["results"]

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        self._process.wait(timeout=10)


@cache
def engine() -> Engine:
    started = Engine()
    atexit.register(started.close)
    return started


def evaluate(text: str, contexts: Mapping[str, Any]) -> Any:
    """One workflow value (`${{ }}` templates) with the given contexts."""
    [value] = engine().evaluate([Request(text, contexts)])
    return value


def condition(text: str, contexts: Mapping[str, Any], status: Status) -> bool:
    """One `if:` with the given contexts and status functions."""
    [value] = engine().evaluate([Request(text, contexts, "if", status)])
    return bool(value)
