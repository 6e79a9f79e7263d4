"""Release ids for hand-made histories: made at known times, in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shipline.release.records import new_release_id

T0 = datetime(2026, 11, 26, 7, 0, 0, tzinfo=UTC)


class Clock:
    """Release ids one minute apart, in the order records are made."""

    def __init__(self) -> None:
        self.minutes = 0

    def next_id(self) -> str:
        self.minutes += 1
        return new_release_id(T0 + timedelta(minutes=self.minutes))
