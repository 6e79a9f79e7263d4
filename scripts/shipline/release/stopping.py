"""Stopping a release cleanly on SIGINT or SIGTERM (a cancelled GitHub Actions job).

The signal only sets an event; every wait (rollout, migration, health) sleeps on that event
and raises `Interrupted` when it is set, so the release can still record itself and release
the lock before it exits.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Interrupted(Exception):
    """A wait ended because the process was asked to stop."""

    def __init__(self, signal_name: str = "a stop request") -> None:
        super().__init__(f"interrupted by {signal_name}")
        self.signal_name = signal_name


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

        A second signal raises KeyboardInterrupt at once (exit 130 at the command line).
        """
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handle(signum: int, _frame: FrameType | None) -> None:
            if self.event.is_set():
                # Asked twice: the person does not want the clean ending to finish.
                raise KeyboardInterrupt
            self.request(signal.Signals(signum).name)

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
