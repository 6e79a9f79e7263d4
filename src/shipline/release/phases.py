"""The record's `phases`: when each phase of a release started and how long it took.

Phases that end before the record exists (a deploy's preflight) wait here and go into the
record once it is attached; every later phase goes in as it ends (saved with the next write).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from shipline import console
from shipline.release.records import PhaseRecord, utc_timestamp

if TYPE_CHECKING:
    from shipline.release.records import ReleaseRecord


class PhaseClock:
    """Times a release's phases into its record; `phase` also shows each one
    (`console.phase`: a line with its duration, a folded group in Actions)."""

    def __init__(self, record: ReleaseRecord | None = None) -> None:
        self.record = record
        self.pending: list[PhaseRecord] = []

    def attach(self, record: ReleaseRecord) -> None:
        """From now on phases go into `record`, the ones already timed first."""
        self.record = record
        record.phases.extend(self.pending)
        self.pending = []

    @contextmanager
    def measure(self, name: str) -> Iterator[None]:
        """Time the block as phase `name`, however it ends (an error ends the phase too)."""
        started_at = utc_timestamp()
        clock = time.monotonic()
        try:
            yield
        finally:
            phase = PhaseRecord(name, started_at, round(time.monotonic() - clock, 3))
            if self.record is None:
                self.pending.append(phase)
            else:
                self.record.phases.append(phase)

    @contextmanager
    def phase(self, name: str) -> Iterator[console.Phase]:
        """One phase of the release: shown as it runs and ends, and timed into the record."""
        with console.phase(name) as step, self.measure(name):
            yield step
