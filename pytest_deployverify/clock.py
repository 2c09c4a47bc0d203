"""The one spelling of a timestamp in everything deployverify writes: ISO 8601, UTC, ``Z``."""

from __future__ import annotations

import time
from datetime import datetime, timezone

#: the current second as text ("2026-01-31T12:00:00"), and which second: the event stream
#: stamps every test, and formatting a datetime cost more than the rest of the line
#: (benchmarks/README.md, issue 20)
_second: tuple[int, str] = (-1, "")


def utc_timestamp(moment: datetime | None = None) -> str:
    """``moment`` (default: now) as ``2026-01-31T12:00:00.123456Z`` (``datetime.isoformat``:
    on a whole second, ``2026-01-31T12:00:00Z``)."""
    if moment is not None:
        return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    global _second
    now = time.time()
    second = int(now)
    # rounded half to even, as datetime.fromtimestamp rounds
    micro = round((now - second) * 1_000_000)
    if micro == 1_000_000:
        second, micro = second + 1, 0
    cached = _second
    if cached[0] != second:
        text = datetime.fromtimestamp(second, timezone.utc).isoformat()
        cached = _second = (second, text.replace("+00:00", ""))
    return f"{cached[1]}.{micro:06d}Z" if micro else f"{cached[1]}Z"
