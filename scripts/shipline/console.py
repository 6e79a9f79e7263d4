"""Where output goes: human progress on stderr, a command's result as JSON on stdout."""

from __future__ import annotations

import json
import sys
from typing import Any


def info(message: str) -> None:
    """One line of human progress (stderr, flushed: CI logs show it as it happens)."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def emit_json(result: Any) -> None:
    """A command's result for machines (stdout)."""
    json.dump(result, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()
