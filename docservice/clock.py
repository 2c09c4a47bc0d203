"""Server time: one place, so the clock_skew fault shifts every timestamp consistently."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class Clock:
    """UTC wall clock shifted by ``skew_s`` (0 unless the clock_skew fault is on)."""

    skew_s: float = 0.0

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=self.skew_s)

    def iso(self, offset_s: float = 0.0) -> str:
        """Now (+ offset) as fixed-width ISO 8601 with microseconds and Z.

        Fixed width matters: the database compares these strings lexicographically.
        """
        return (self.now() + timedelta(seconds=offset_s)).strftime(FORMAT)


def parse_iso(value: str) -> datetime:
    """Parse a timestamp written by :meth:`Clock.iso`."""
    return datetime.strptime(value, FORMAT).replace(tzinfo=timezone.utc)
