"""The one spelling of a timestamp in everything deployverify writes: ISO 8601, UTC, ``Z``."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_timestamp(moment: datetime | None = None) -> str:
    """``moment`` (default: now) as ``2026-01-31T12:00:00.123456Z``."""
    moment = datetime.now(timezone.utc) if moment is None else moment.astimezone(timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")
