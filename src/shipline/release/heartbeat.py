"""Heartbeat lines during long waits, so a wait of minutes is never silent.

One line every `interval` seconds of wall time (`wait.heartbeat`), whatever the poll interval:
how long the wait has run against its timeout, and where it stands. Every line starts with
`waiting ELAPSED/TIMEOUT: ` (see `is_heartbeat`), so a renderer can tell heartbeats from the
other progress lines. The lines are built by pure functions; `Heartbeat` only keeps the pace.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

HEARTBEAT_SECONDS = 10.0  # wait.heartbeat's default (schemas/shipline.schema.json)

_HEARTBEAT = re.compile(r"waiting \d+(\.\d)?s/\d+(\.\d)?s: ")


class Figures(Protocol):
    """What a heartbeat says about one service: a rollout `Outcome` fits."""

    @property
    def running(self) -> int | None: ...
    @property
    def desired(self) -> int | None: ...
    @property
    def deployment(self) -> str | None: ...


def seconds(value: float) -> str:
    """`42s`, or `0.4s` below ten seconds (tests and the sandbox wait for fractions)."""
    return f"{value:.0f}s" if value >= 9.95 or value == int(value) else f"{value:.1f}s"


def heartbeat_line(elapsed: float, timeout: float, where: str) -> str:
    return f"waiting {seconds(elapsed)}/{seconds(timeout)}: {where}"


def is_heartbeat(line: str) -> bool:
    return _HEARTBEAT.match(line) is not None


def rollout_where(keys: Iterable[str], outcomes: Mapping[str, Figures]) -> str:
    """`api 1/2 running (IN_PROGRESS), web 2/2 running (COMPLETED)`, in the order of `keys`;
    a service not described yet is `api not described yet`."""
    parts = []
    for key in keys:
        figures = outcomes.get(key)
        if figures is None:
            parts.append(f"{key} not described yet")
            continue
        running = "?" if figures.running is None else figures.running
        desired = "?" if figures.desired is None else figures.desired
        parts.append(f"{key} {running}/{desired} running ({figures.deployment or 'no deployment'})")
    return ", ".join(parts)


def migration_where(task_id: str, last_status: str | None) -> str:
    return f"migration task {task_id} {last_status or 'not described yet'}"


@dataclass
class UrlProgress:
    """One health URL's checks so far (written by its checking thread, read by the heartbeat)."""

    service: str
    attempts: int = 0
    last: str | None = None  # `HTTP 503`, or why no answer came
    healthy: bool = False


def health_where(progress: Iterable[UrlProgress]) -> str:
    """`api: healthy; web: 3 attempts, last connection refused to URL`."""
    parts = []
    for url in progress:
        if url.healthy:
            parts.append(f"{url.service}: healthy")
        elif url.attempts == 0:
            parts.append(f"{url.service}: no answer yet")
        else:
            noun = "attempt" if url.attempts == 1 else "attempts"
            parts.append(f"{url.service}: {url.attempts} {noun}, last {url.last or 'no answer'}")
    return "; ".join(parts)


@dataclass
class Heartbeat:
    """The pace: a beat at `interval`, 2 x `interval`, ... after `started` (monotonic seconds).

    A beat that falls during a pause is printed then, with what is known; one that falls near
    the end of a pause waits for the poll that follows it (see `pause`), so it shows fresh
    figures. Beats missed (a slow call) are skipped, never printed in a burst.
    """

    interval: float
    clock: Callable[[], float] = time.monotonic
    started: float = field(init=False)
    beats: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def next_at(self) -> float:
        return self.started + (self.beats + 1) * self.interval

    def due(self) -> bool:
        return self.clock() >= self.next_at()

    def beat(self, emit: Callable[[], None]) -> None:
        """`emit` when a beat is due; the next beat is the first one still ahead."""
        if not self.due():
            return
        self.beats = max(self.beats + 1, int(self.elapsed() // self.interval))
        emit()

    def pause(
        self, sleep: Callable[[float], None], duration: float, emit: Callable[[], None]
    ) -> None:
        """`sleep` for `duration` seconds in pieces, `emit`ting the beats that fall before its
        last quarter; a beat later than that is left for the caller's `beat` after its poll."""
        end = self.clock() + duration
        fresh_soon = end - duration / 4
        while True:
            now = self.clock()
            upcoming = self.next_at()
            if upcoming >= fresh_soon or upcoming >= end:
                sleep(max(0.0, end - now))
                return
            sleep(max(0.0, upcoming - now))
            self.beat(emit)
