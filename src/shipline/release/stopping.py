"""Stopping a release cleanly on SIGINT or SIGTERM (a cancelled GitHub Actions job).

The signal only sets an event; every wait (rollout, migration, health) sleeps on that event
and raises `Interrupted` when it is set, so the release can still record itself and release
the lock before it exits.

A cancelled GitHub job sends SIGINT, then SIGTERM 7.5 s later, then SIGKILL. The clean ending
is a few AWS calls (the record, the lock), so it normally ends long before; a later signal must
not cut it off half-way (a lock held with no record saying why is the worst ending), so every
signal after the first is only acknowledged. SIGKILL stops at once, leaving the lock behind.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

ALREADY_STOPPING = (
    "already stopping: recording the release and releasing the lock "
    "(SIGKILL stops at once and leaves the lock held)"
)


class Interrupted(Exception):
    """A wait ended because the process was asked to stop."""

    def __init__(self, signal_name: str = "a stop request", *, left_behind: str = "") -> None:
        super().__init__(f"interrupted by {signal_name}")
        self.signal_name = signal_name
        self.left_behind = left_behind  # what is still running and how to stop it, if anything


class StopSignal:
    """Set by SIGINT/SIGTERM while `catching()` is active; waits call `sleep()` on it."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None

    def is_set(self) -> bool:
        return self.event.is_set()

    def sleep(self, seconds: float) -> None:
        """Sleep up to `seconds`; raise Interrupted at once when a stop was asked for."""
        if self.event.wait(max(0.0, seconds)):
            raise Interrupted(self.signal_name or "a stop request")

    def check(self) -> None:
        if self.event.is_set():
            raise Interrupted(self.signal_name or "a stop request")

    def request(self, signal_name: str) -> None:
        self.signal_name = self.signal_name or signal_name
        self.event.set()

    @contextmanager
    def catching(self) -> Iterator[StopSignal]:
        """Turn SIGINT and SIGTERM into a stop request (main thread only; else a no-op).

        A later signal is acknowledged on stderr and changes nothing: the ending goes on.
        """
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handle(signum: int, _frame: FrameType | None) -> None:
            name = signal.Signals(signum).name
            if self.event.is_set():
                # os.write: the main thread may be inside a buffered write to stderr right now.
                os.write(2, (f"shipline: {name}: {ALREADY_STOPPING}\n").encode())
                return
            self.request(name)

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
